rule theory:
    """Per grid cell of one rho: lower bound, construction over the alpha grid (both readouts), best known."""
    output:
        "results/theory/rho{rho}.json",
    params:
        cells=" ".join(f"{S}:{K}" for S in config["grid"]["S"] for K in sbconfig.K_values(config, S)),
        alphas=" ".join(map(str, config["theory"]["alphas"])),
        best_known=sbconfig.canonical(config["theory"]["best_known"]),
    log:
        "logs/theory/rho{rho}.log",
    threads: 1
    resources:
        mem_mb=lambda w, attempt: 1000 * attempt,
        runtime=lambda w, attempt: 60 * attempt,
    conda:
        "../envs/shiftbench.yaml"
    shell:
        "shiftbench theory --rho {wildcards.rho} --cells {params.cells}"
        " --alphas {params.alphas} --best-known {params.best_known:q} --out {output} > {log} 2>&1"

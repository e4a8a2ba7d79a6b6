rule theory:
    """Per (rho, S), every K: lower bound, construction over the alpha grid (both readouts), the
    optimal loss of the deterministic inits, and the construction's window optimum."""
    output:
        "results/theory/rho{rho}/S{S}.json",
    log:
        "logs/theory/rho{rho}/S{S}.log",
    benchmark:
        "results/benchmarks/theory/rho{rho}/S{S}.tsv"
    conda:
        "../envs/shiftbench.yaml"
    threads: 1
    resources:
        mem_mb=lambda w, attempt: 1000 * attempt,
        runtime=lambda w, attempt: 60 * attempt,
    params:
        rho=lambda w: RHOS[w.rho],
        S=lambda w: int(w.S),
        Ks=lambda w: " ".join(map(str, theory_Ks(w))),
        alphas=" ".join(map(str, config["theory"]["alphas"])),
        window=theory_window,
    shell:
        "shiftbench theory --rho {params.rho} --S {params.S} --Ks {params.Ks} --alphas {params.alphas}"
        " {params.window} --out {output} > {log} 2>&1"

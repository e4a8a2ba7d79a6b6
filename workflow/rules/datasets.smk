rule dataset:
    """AR(1) train and test datasets for every sequence length N = K + t_eval of the grid, one rho and
    data seed per job (one process, since sampling is instant next to the interpreter's start-up)."""
    output:
        [
            dataset("{rho}", K, split, "{seed}", suffix)
            for K in ALL_K
            for split in ("train", "test")
            for suffix in (".npy", ".json")
        ],
    log:
        "logs/dataset/rho{rho}_seed{seed}.log",
    benchmark:
        "results/benchmarks/dataset/rho{rho}_seed{seed}.tsv"
    conda:
        "../envs/shiftbench.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        rho=lambda w: RHOS[w.rho],
        seed=lambda w: int(w.seed),
        lengths=" ".join(str(sbconfig.sequence_length(config, K)) for K in ALL_K),
        n_train=config["data"]["n_train"],
        n_test=config["data"]["n_test"],
    shell:
        "shiftbench dataset --rho {params.rho} --lengths {params.lengths} --n-train {params.n_train}"
        " --n-test {params.n_test} --seed {params.seed} --outdir results/data/rho{wildcards.rho} > {log} 2>&1"

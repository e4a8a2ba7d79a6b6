rule dataset:
    """AR(1) train and test datasets for every sequence length N = K + t_eval of the grid, one rho and
    data seed per job (one process, since sampling is instant next to the interpreter's start-up)."""
    output:
        [dataset("{rho}", K, split, "{seed}", suffix) for K in ALL_K for split in ("train", "test") for suffix in (".npy", ".json")],
    params:
        lengths=" ".join(str(sbconfig.sequence_length(config, K)) for K in ALL_K),
        n_train=config["data"]["n_train"],
        n_test=config["data"]["n_test"],
    log:
        "logs/dataset/rho{rho}_seed{seed}.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/shiftbench.yaml"
    shell:
        "shiftbench dataset --rho {wildcards.rho} --lengths {params.lengths} --n-train {params.n_train}"
        " --n-test {params.n_test} --seed {wildcards.seed} --outdir results/data/rho{wildcards.rho} > {log} 2>&1"

rule dataset:
    """AR(1) train and test datasets for every sequence length N = burn_in + K + t_eval (K: a target's
    horizon) trained on the sampled objective, one rho and data seed per job (sampling is instant next to the interpreter's
    start-up)."""
    output:
        [
            dataset("{rho}", N, split, "{seed}", suffix)
            for N in DATASET_LENGTHS
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
        rho=lambda w: DATASET_RHOS[w.rho],
        seed=lambda w: int(w.seed),
        lengths=" ".join(map(str, DATASET_LENGTHS)),
        n_train=config["data"]["n_train"],
        n_test=config["data"]["n_test"],
        sampler=AR1.SAMPLER,  # a new sampler reruns the datasets (and their sidecars name it)
    shell:
        "shiftbench dataset --rho {params.rho} --lengths {params.lengths} --n-train {params.n_train}"
        " --n-test {params.n_test} --seed {params.seed} --outdir results/data/rho{wildcards.rho} > {log} 2>&1"

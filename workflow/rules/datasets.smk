rule dataset:
    """One AR(1) dataset of n sequences of length N = K + t_eval, with a checksummed sidecar."""
    output:
        data="results/data/rho{rho}/N{N}/{split}_seed{seed}.npy",
        meta="results/data/rho{rho}/N{N}/{split}_seed{seed}.json",
    params:
        n=lambda w: config["data"]["n_train" if w.split == "train" else "n_test"],
        # distinct streams for train and test with the same user seed
        seed=lambda w: 2 * int(w.seed) + (w.split == "test"),
    log:
        "logs/dataset/rho{rho}_N{N}_{split}_seed{seed}.log",
    group:
        "datasets"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    conda:
        "../envs/shiftbench.yaml"
    shell:
        "{PY} -m shiftbench dataset --rho {wildcards.rho} --length {wildcards.N} --n {params.n}"
        " --seed {params.seed} --out {output.data} > {log} 2>&1"

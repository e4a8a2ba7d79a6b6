rule dataset:
    """Train and test AR(1) datasets of sequences of length N = K + t_eval, with checksummed sidecars."""
    output:
        train="results/data/rho{rho}/N{N}/train_seed{seed}.npy",
        train_meta="results/data/rho{rho}/N{N}/train_seed{seed}.json",
        test="results/data/rho{rho}/N{N}/test_seed{seed}.npy",
        test_meta="results/data/rho{rho}/N{N}/test_seed{seed}.json",
    params:
        n_train=config["data"]["n_train"],
        n_test=config["data"]["n_test"],
    log:
        "logs/dataset/rho{rho}_N{N}_seed{seed}.log",
    group:
        "datasets"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    conda:
        "../envs/shiftbench.yaml"
    shell:
        "shiftbench dataset --rho {wildcards.rho} --length {wildcards.N} --n-train {params.n_train}"
        " --n-test {params.n_test} --seed {wildcards.seed} --train {output.train} --test {output.test} > {log} 2>&1"

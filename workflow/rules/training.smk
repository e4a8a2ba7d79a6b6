rule train:
    """All K, init variants, methods, lrs and seeds of one (block, objective, rho, S, data seed).

    The unit keeps torch's import (seconds) a small share of a job, and lets the runs of one K that
    share a pole family train as one batched model.
    """
    input:
        train=lambda w: datasets_for(w, "train"),
        test=lambda w: datasets_for(w, "test"),
    output:
        "results/runs/{block}/{objective}/rho{rho}/S{S}/data{seed}.json",
    log:
        "logs/train/{block}/{objective}/rho{rho}/S{S}/data{seed}.log",
    benchmark:
        "results/benchmarks/train/{block}/{objective}/rho{rho}/S{S}/data{seed}.tsv"
    # Training before reference and theory jobs (which only feed the aggregation): without it, the two
    # longest jobs of the default study (block paper-scale, 300 s each) started 2 and 4 minutes into a
    # run of 9 min 39 s (2026-12-07), and their end set its wall time.
    priority: 1
    conda:
        "../envs/shiftbench.yaml"
    threads: 1
    resources:
        mem_mb=lambda w, attempt: round(train_mem_mb(w)) * attempt,
        runtime=lambda w, attempt: 30 * attempt,
    params:
        job=lambda w: sbconfig.canonical(
            sbconfig.train_job(config, BLOCKS[w.block], w.objective, RHOS[w.rho], int(w.S), int(w.seed))
        ),
        data=lambda w, input: f"--train {' '.join(input.train)} --test {' '.join(input.test)}" if input.train else "",
    shell:
        "shiftbench train --job {params.job:q} {params.data} --threads {threads} --out {output} > {log} 2>&1"


rule train_long:
    """The budget control (train.budget_factor): the first seed of each variant and method of a training job,
    again at budget_factor x steps, at the lr the job's own runs select (the summary's rule); after it."""
    input:
        runs="results/runs/{block}/{objective}/rho{rho}/S{S}/data{seed}.json",
        train=lambda w: datasets_for(w, "train"),
        test=lambda w: datasets_for(w, "test"),
    output:
        "results/runs_long/{block}/{objective}/rho{rho}/S{S}/data{seed}.json",
    log:
        "logs/train_long/{block}/{objective}/rho{rho}/S{S}/data{seed}.log",
    benchmark:
        "results/benchmarks/train_long/{block}/{objective}/rho{rho}/S{S}/data{seed}.tsv"
    priority: 1
    conda:
        "../envs/shiftbench.yaml"
    threads: 1
    resources:
        mem_mb=lambda w, attempt: round(train_mem_mb(w)) * attempt,
        runtime=lambda w, attempt: 30 * attempt,
    params:
        job=lambda w: sbconfig.canonical(
            sbconfig.train_job(config, BLOCKS[w.block], w.objective, RHOS[w.rho], int(w.S), int(w.seed))
        ),
        data=lambda w, input: f"--train {' '.join(input.train)} --test {' '.join(input.test)}" if input.train else "",
    shell:
        "shiftbench train-long --job {params.job:q} --runs {input.runs} {params.data} --threads {threads}"
        " --out {output} > {log} 2>&1"

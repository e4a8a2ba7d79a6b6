rule figures:
    input:
        rules.aggregate.output.parquet,
    output:
        figure("claims.html", "claims", "1. Claims"),
        figure("fig1_kernels.png", "fig1", "2. Uncertainty principle"),
        figure("fig8_width_vs_K_over_S.png", "fig8", "2. Uncertainty principle"),
        figure("fig2_frequency_window.png", "fig2", "3. Frequency view"),
        figure("fig3_white_noise_terms.png", "fig3", "3. Frequency view"),
        figure("fig5_spectral_density.png", "fig5", "3. Frequency view"),
        figure("fig4_learning_curves.png", "fig4", "4. Learned vs theory"),
        figure("fig6_loss_vs_S_over_K.png", "fig6", "4. Learned vs theory"),
        figure("fig7_loss_vs_smoothness.png", "fig7", "4. Learned vs theory"),
    params:
        config=sbconfig.canonical(config),
    log:
        "logs/figures.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/shiftbench.yaml"
    shell:
        "shiftbench figures --tables results/tables --config {params.config:q} --outdir reports/figures > {log} 2>&1"


rule provenance:
    output:
        figure("provenance.html", "provenance", "6. Provenance"),
    params:
        commit=git_commit(),
        config=sbconfig.canonical(config),
    log:
        "logs/provenance.log",
    localrule: True
    conda:
        "../envs/shiftbench.yaml"
    shell:
        "shiftbench provenance --config {params.config:q} --commit {params.commit} --out {output} > {log} 2>&1"

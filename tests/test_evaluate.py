"""`shiftbench evaluate` and its layer readers, against the layers' own code and independent sums.

The lru-pytorch test runs the real PyPI module (lru-pytorch 0.1.3, the `test` extra) on an impulse;
the S4D test evaluates s4d.py's kernel formula (state-spaces/s4, models/s4/s4d.py) as that file
writes it. Losses are checked against a dense truncated double sum sum_{k,k'} e_k e_k' rho^|k-k'|.
"""

import json
import logging
import math
import subprocess
import sys
from fractions import Fraction

import dense
import numpy as np
import pandas as pd
import pytest
import torch
from conftest import REPO
from scipy.linalg import toeplitz

from shiftbench import cli, evaluate, readers, reference, theory

RHOS = [0.0, 0.5, 0.9]


def dense_loss(c, K, rho):
    """sum_{k,k'} e_k e_k' rho^|k-k'| with e = c - delta_K, as a dense Toeplitz quadratic form."""
    e = np.asarray(c, dtype=float).copy()
    e[K] -= 1.0
    return float(e @ toeplitz(rho ** np.arange(e.size)) @ e)


def dense_window_loss(c, K, rho, T):
    """Zero initial state, the last T of n = K + T steps: the mean over t of the loss of c truncated at t."""
    n = K + T
    e = np.asarray(c[:n], dtype=float).copy()
    e[K] -= 1.0
    M = toeplitz(rho ** np.arange(n))
    return float(np.mean([e[: t + 1] @ M[: t + 1, : t + 1] @ e[: t + 1] for t in range(n - T, n)]))


@pytest.fixture
def float64_torch():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def lru_impulse_response(module, n, i=0):
    """The module's own forward on an impulse at input i: (n, out_features), D x_0 included at lag 0."""
    x = torch.zeros(n, module.B.shape[1], dtype=module.D.dtype)
    x[0, i] = 1.0
    with torch.no_grad():
        return module(x).double().numpy()


# ----------------------------------------------------------------------------------------------
# (1) lru-pytorch: the real module


def test_lru_pytorch_loss_is_the_loss_of_the_modules_own_kernel(tmp_path, float64_torch):
    LRU = pytest.importorskip("LRU_pytorch").LRU  # lru-pytorch==0.1.3, in the `test` extra
    torch.manual_seed(0)
    module = LRU(1, 1, 16, rmin=0.4, rmax=0.95)  # moduli <= 0.95: decayed below 1e-26 by lag 1200
    path = tmp_path / "lru.pt"
    torch.save(module.state_dict(), path)
    n = 1200
    c = lru_impulse_response(module, n)[:, 0]
    assert abs(c[0] - module.D.item()) > 0.1  # the feed-through is there and matters at lag 0

    layer = readers.read_layer(path)  # the format from the keys of a .pt file
    assert layer.S == 32 and layer.family == "complex" and layer.d == pytest.approx(module.D.item(), rel=1e-15)
    np.testing.assert_allclose(layer.kernel(n), c, rtol=0, atol=1e-13 * np.abs(c).max())

    Ks = [8, 40, 100]
    out = tmp_path / "eval.csv"
    args = ["evaluate", str(path), "--format", "lru-pytorch", "--K", *map(str, Ks), "--rho", *map(str, RHOS)]
    assert cli.main([*args, "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert len(table) == len(Ks) * len(RHOS)
    for row in table.itertuples():
        expected = dense_loss(c, row.K, row.rho)
        assert row.loss == pytest.approx(expected, rel=1e-10), (row.K, row.rho)
        assert row.optimal_loss <= row.loss + 1e-12
        assert row.optimal_loss_d <= row.optimal_loss + 1e-12


def test_lru_pytorch_channel_is_input_then_output(tmp_path):
    """A float32 LRU(2, 3, 8), the format people save: --channel i,j is input i, output j."""
    LRU = pytest.importorskip("LRU_pytorch").LRU
    torch.manual_seed(1)
    module = LRU(2, 3, 8, rmin=0.3, rmax=0.9)
    path = tmp_path / "lru.pth"
    torch.save(module.state_dict(), path)
    n = 500
    c = lru_impulse_response(module, n, i=1)[:, 2]  # input 1, output 2
    layer = readers.read_layer(path, "lru-pytorch", "1,2")
    assert layer.d == pytest.approx(module.D[2, 1].item(), rel=1e-7)
    np.testing.assert_allclose(layer.kernel(n), c, rtol=0, atol=1e-5 * np.abs(c).max())  # float32 forward
    other = readers.read_layer(path, "lru-pytorch", "0,1")  # swapped or other channels differ
    assert np.abs(other.kernel(n) - c).max() > 1e-2 * np.abs(c).max()
    table = evaluate.evaluate(layer, [10, 30], [0.0, 0.7])
    for row in table.itertuples():
        assert row.loss == pytest.approx(dense_loss(c, row.K, row.rho), rel=1e-4)


# ----------------------------------------------------------------------------------------------
# (2) S4D: s4d.py's own formula


def s4d_state_dict(H, N, dt_min, dt_max, seed):
    """An S4DKernel state_dict as s4d.py initialises it, then moved as training would move it."""
    g = torch.Generator().manual_seed(seed)
    log_dt = torch.rand(H, generator=g, dtype=torch.float64) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
    C = torch.randn(H, N // 2, dtype=torch.complex128, generator=g)
    log_A_real = torch.log(0.5 * torch.ones(H, N // 2, dtype=torch.float64))
    A_imag = math.pi * torch.arange(N // 2, dtype=torch.float64).repeat(H, 1)
    log_A_real = log_A_real + 0.3 * torch.rand(H, N // 2, generator=g, dtype=torch.float64)  # "trained"
    A_imag = A_imag + 0.1 * torch.randn(H, N // 2, generator=g, dtype=torch.float64)
    return {"log_dt": log_dt, "C": torch.view_as_real(C), "log_A_real": log_A_real, "A_imag": A_imag}


def s4d_kernel(state, L):
    """S4DKernel.forward of models/s4/s4d.py, line by line: (H, L)."""
    dt = torch.exp(state["log_dt"])  # (H)
    C = torch.view_as_complex(state["C"])  # (H N)
    A = -torch.exp(state["log_A_real"]) + 1j * state["A_imag"]  # (H N)
    dtA = A * dt.unsqueeze(-1)  # (H N)
    K = dtA.unsqueeze(-1) * torch.arange(L)  # (H N L)
    C = C * (torch.exp(dtA) - 1.0) / A
    K = 2 * torch.einsum("hn, hnl -> hl", C, torch.exp(K)).real
    return K.numpy()


def test_s4d_kernel_matches_s4d_formula_and_losses(tmp_path):
    H, N, L = 3, 64, 1600  # dt >= 0.05 and Re A <= -0.5: |a| <= exp(-0.025), below 1e-17 by lag 1600
    state = s4d_state_dict(H, N, dt_min=0.05, dt_max=0.1, seed=0)
    kernels = s4d_kernel(state, L)
    path = tmp_path / "s4d_kernel.pt"
    torch.save(state, path)
    for h in range(H):
        layer = readers.read_layer(path, channel=str(h))  # .pt with log_A_real: s4d
        assert layer.S == N and layer.d == 0.0
        np.testing.assert_allclose(layer.kernel(L), kernels[h], rtol=0, atol=1e-12 * np.abs(kernels[h]).max())
    # A whole S4D module: the kernel's keys under "kernel.", and its skip D (before the GELU).
    D = torch.randn(H, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    full = {f"kernel.{k}": v for k, v in state.items()} | {"D": D, "output_linear.0.weight": torch.ones(2 * H, H, 1)}
    torch.save(full, tmp_path / "s4d.pt")
    h, Ks = 2, [5, 30, 120]
    layer = readers.read_layer(tmp_path / "s4d.pt", "s4d", str(h))
    assert layer.d == D[h].item()
    c = kernels[h].copy()
    c[0] += D[h].item()
    table = evaluate.evaluate(layer, Ks, RHOS)
    for row in table.itertuples():
        assert row.loss == pytest.approx(dense_loss(c, row.K, row.rho), rel=1e-10), (row.K, row.rho)


# ----------------------------------------------------------------------------------------------
# (3) the optimum of its own poles, the reference, the refit feed-through


@pytest.mark.parametrize("rho", RHOS)
def test_construction_with_optimal_readout_recovers_all_of_its_poles(rho):
    S, K = 16, 64
    a, _ = theory.construction(S, K)
    layer = readers.make_layer(a, theory.optimal_readout(a, K, rho), source="test")
    (row,) = evaluate.evaluate(layer, [K], [rho]).itertuples()
    assert row.loss == pytest.approx(row.optimal_loss, abs=1e-10)
    assert row.recovered_own == pytest.approx(1.0, abs=1e-9)
    # the rigorous bound, in exact rational arithmetic from its statement (docs/theory.md section 5): white noise
    # 1 - S/(K + 1), AR(1) 1 - (S + 1)/(K + 1) (1 + rho)/(1 - rho), clipped at 0 (16/65 and 17/65 * 3 here)
    r = Fraction(rho).limit_denominator(100)
    bound = 1 - Fraction(S, K + 1) if rho == 0 else 1 - Fraction(S + 1, K + 1) * (1 + r) / (1 - r)
    assert row.lower_bound == pytest.approx(float(max(bound, Fraction(0))), abs=1e-15)
    assert {0.0: 49 / 65, 0.5: 14 / 65, 0.9: 0.0}[rho] == pytest.approx(row.lower_bound, abs=1e-15)
    # and a bound: below the dense least-squares optimum of these poles (another route than optimal_loss)
    assert row.lower_bound <= dense.stationary_loss(a, dense.optimal_readout(a, K, rho), K, rho)
    # no reference is committed at S = 16: the columns that need one are NaN, the others are not
    assert np.isnan(row.reference) and np.isnan(row.recovered) and np.isfinite(row.loss)
    # The paper's own readout is not optimal for its poles: less than 1.
    paper = readers.make_layer(*theory.construction(S, K), source="paper")
    (row,) = evaluate.evaluate(paper, [K], [rho]).itertuples()
    assert 0 < row.recovered_own < 1 - 1e-4


@pytest.mark.parametrize("rho", [0.0, 0.7])
def test_a_layer_at_a_committed_cell_is_set_against_its_reference(rho):
    """S = 250, K = 250: the committed reference of the cell (re-verified), and its own poles as a layer
    recover exactly all of it; the construction's poles recover less."""
    S = K = 250
    ref = reference.lookup(S, K, rho)
    assert ref is not None
    a = np.array([complex(*z) for z in ref["poles"]])
    (row,) = evaluate.evaluate(readers.make_layer(a, theory.optimal_readout(a, K, rho), source="ref"), [K], [rho])\
        .itertuples()  # fmt: skip
    # the committed file itself, read as JSON (not through reference.lookup, which evaluate calls), and its value
    # recomputed from its poles by the dense route: e^T T e of the long truncated kernel of (a, b*(a))
    path = REPO / "shiftbench" / "references" / f"complex_exact_rho{rho:g}_S250_K250.json"
    committed = json.loads(path.read_text())
    assert row.reference == committed["value"] and committed["family"] == "complex" and committed["S"] == S
    dense_value = dense.stationary_loss(a, theory.optimal_readout(a, K, rho), K, rho)
    assert dense_value == pytest.approx(row.reference, abs=1e-12)
    assert row.recovered_optimal == pytest.approx(1.0, abs=1e-9)
    c, b = theory.construction(S, K)  # the paper's filter: its readout is not the optimum of its poles
    (row,) = evaluate.evaluate(readers.make_layer(c, b, source="c"), [K], [rho]).itertuples()
    loss = dense.stationary_loss(c, b, K, rho)  # by another route: e^T T e on the long truncated kernel
    assert row.loss == pytest.approx(loss, abs=1e-10) and row.optimal_loss < loss - 1e-4
    assert row.recovered == pytest.approx((1 - loss) / (1 - ref["value"]), rel=1e-9) and row.recovered < 1


@pytest.mark.parametrize("rho", [0.0, 0.7])
def test_a_real_layer_is_set_against_the_real_family_reference(rho):
    """S = 250 real positive poles (a ladder of decay rates): the reference column is the committed real-family
    file's value, read here as JSON, not the complex family's."""
    S = K = 250
    a = np.exp(-np.geomspace(0.05 / K, 8.0 / K, S)).astype(complex)
    (row,) = evaluate.evaluate(readers.make_layer(a, np.full(S, 1e-3 + 0j), source="ladder"), [K], [rho]).itertuples()
    assert row.family == "real"
    files = REPO / "shiftbench" / "references"
    real = json.loads((files / f"real_exact_rho{rho:g}_S250_K250.json").read_text())["value"]
    complex_ = json.loads((files / f"complex_exact_rho{rho:g}_S250_K250.json").read_text())["value"]
    assert row.reference == real and real != complex_
    assert row.recovered == pytest.approx((1 - row.loss) / (1 - real), rel=1e-12)


@pytest.mark.parametrize("rho", RHOS)
def test_optimum_with_feedthrough_is_dense_least_squares_with_a_lag_zero_column(rho):
    rng = np.random.default_rng(3)
    p = np.sqrt(rng.uniform(0.2, 0.85, 5)) * np.exp(1j * rng.uniform(0.1, 3.0, 5))
    a = np.concatenate([p, p.conj(), [0.6]])
    K, n = 12, 600
    Phi = np.concatenate([a[None, :] ** np.arange(n)[:, None], np.eye(n)[:, :1]], axis=1)  # + delta_0
    R = np.linalg.cholesky(toeplitz(rho ** np.arange(n))).T  # e^T Gamma e = |R e|^2
    target = np.eye(n)[:, K]
    coef, *_ = np.linalg.lstsq(R @ Phi, R @ target, rcond=None)
    dense = float(np.sum(np.abs(R @ (Phi @ coef - target)) ** 2))
    assert evaluate.optimal_loss_with_feedthrough(a, K, rho) == pytest.approx(dense, rel=1e-9)
    assert dense < theory.optimal_loss(a, K, rho) - 1e-6  # refitting d helps here: a real difference


# ----------------------------------------------------------------------------------------------
# (5) the finite window, feed-through included


@pytest.mark.parametrize("rho", RHOS)
def test_window_loss_matches_dense_window(rho, tmp_path):
    rng = np.random.default_rng(7)
    p = np.sqrt(rng.uniform(0.3, 0.95, 6)) * np.exp(1j * rng.uniform(0.1, 3.0, 6))
    g = (rng.standard_normal(6) + 1j * rng.standard_normal(6)) / 6
    path = tmp_path / "layer.npz"
    np.savez(path, a=np.concatenate([p, p.conj()]), b=np.concatenate([g, g.conj()]), d=0.4)
    layer = readers.read_layer(path)
    K, T = 20, 30
    (row,) = evaluate.evaluate(layer, [K], [rho], window=T).itertuples()
    c = layer.kernel(K + T)
    assert row.window == T
    assert row.window_loss == pytest.approx(dense_window_loss(c, K, rho, T), rel=1e-11)
    c[0] -= 0.4
    assert abs(row.window_loss - dense_window_loss(c, K, rho, T)) > 1e-3  # d matters


# ----------------------------------------------------------------------------------------------
# Formats: CSV, npz, the guess from the suffix, the plot


def test_csv_reads_the_same_layer_as_npz(tmp_path):
    a, b = theory.construction(6, 10)
    np.savez(tmp_path / "l.npz", a=a, b=b, d=-0.25)
    rows = ["a_re,a_im,b_re,b_im,d", "# the construction, S = 6"]
    rows += [
        f"{x.real:.17g},{x.imag:.17g},{y.real:.17g},{y.imag:.17g},{'-0.25' if i == 0 else ''}"
        for i, (x, y) in enumerate(zip(a, b))
    ]
    (tmp_path / "l.csv").write_text("\n".join(rows) + "\n")
    x, y = readers.read_layer(tmp_path / "l.npz"), readers.read_layer(tmp_path / "l.csv")
    np.testing.assert_array_equal(x.a, y.a)
    np.testing.assert_array_equal(x.b, y.b)
    assert x.d == y.d == -0.25


def test_cli_prints_the_table_and_draws_the_plot(tmp_path, capsys):
    a, b = theory.construction(8, 32)
    np.savez(tmp_path / "l.npz", a=a, b=b)
    plot = tmp_path / "kernels.png"
    assert (
        cli.main(["evaluate", str(tmp_path / "l.npz"), "--K", "32", "48", "--rho", "0", "0.7", "--plot", str(plot)])
        == 0
    )
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:5] == ["K", "rho", "S", "family", "loss"] and len(out) == 5
    assert plot.stat().st_size > 10_000


def test_a_registered_reader_is_a_format_of_the_command(tmp_path, capsys, monkeypatch):
    """The README's Extending recipe: a reader registered with a suffix is offered by --format and
    chosen for that suffix; its layer gets the same row as the same poles written as npz."""
    for registry in ("READERS", "SUFFIXES", "STATE_KEYS"):  # undone after the test
        monkeypatch.setattr(readers, registry, dict(getattr(readers, registry)))
    a, b = theory.construction(6, 12)

    def read_text(path, channel=None):  # one pole and its readout per line: a.real a.imag b.real b.imag
        x = np.loadtxt(path, ndmin=2)
        return readers.make_layer(x[:, 0] + 1j * x[:, 1], x[:, 2] + 1j * x[:, 3], source=str(path))

    readers.register("poles-txt", read_text, suffix=".poles")
    for taken in [dict(name="npz"), dict(name="other", suffix=".NPZ"), dict(name="other", state_key="nu_log")]:
        with pytest.raises(ValueError, match="already belong"):  # never replaces a registered format
            readers.register(reader=read_text, **taken)
    assert readers.READERS["npz"] is readers.read_npz and "other" not in readers.READERS
    np.savetxt(tmp_path / "l.poles", np.column_stack([a.real, a.imag, b.real, b.imag]))
    np.savez(tmp_path / "l.npz", a=a, b=b)
    tables = []
    for argv in (
        [str(tmp_path / "l.poles")],
        [str(tmp_path / "l.poles"), "--format", "poles-txt"],
        [str(tmp_path / "l.npz")],
    ):
        assert cli.main(["evaluate", *argv, "--K", "12", "--out", str(tmp_path / "e.csv")]) == 0
        tables.append(pd.read_csv(tmp_path / "e.csv"))
    capsys.readouterr()
    pd.testing.assert_frame_equal(tables[0], tables[1])
    pd.testing.assert_frame_equal(tables[0], tables[2], rtol=1e-12)
    assert cli.main(["evaluate", str(tmp_path / "l.npz"), "--format", "poles-txt", "--K", "12"]) == 2  # not text


# ----------------------------------------------------------------------------------------------
# (4) bad input: one line, exit status 2, no traceback


def bad_inputs(tmp_path):
    """(name, argv) of every kind of bad input, the files made here."""
    good_a, good_b = theory.construction(4, 10)

    def npz(name, **arrays):
        np.savez(tmp_path / name, **arrays)
        return str(tmp_path / name)

    (tmp_path / "text.npz").write_text("a,b\n1,2\n")
    (tmp_path / "missing_col.csv").write_text("a_re,a_im,b_re\n0.5,0,1\n")
    (tmp_path / "word.csv").write_text("a_re,a_im,b_re,b_im\n0.5,0,one,0\n")
    torch.manual_seed(0)
    lru = torch.nn.Linear(1, 1)  # a whole pickled module: weights_only refuses it
    torch.save(lru, tmp_path / "module.pt")
    state = s4d_state_dict(2, 8, 0.05, 0.1, 0)
    torch.save(state, tmp_path / "s4d.pt")
    pairs = np.array([0.5 + 0.2j, 0.5 - 0.2j])
    ev = ["evaluate"]
    return [
        ("no such file", [*ev, str(tmp_path / "nope.npz"), "--K", "4"]),
        ("text named npz", [*ev, str(tmp_path / "text.npz"), "--K", "4"]),
        ("npz as lru-pytorch", [*ev, npz("g.npz", a=good_a, b=good_b), "--format", "lru-pytorch", "--K", "4"]),
        ("s4d as lru-pytorch", [*ev, str(tmp_path / "s4d.pt"), "--format", "lru-pytorch", "--K", "4"]),
        ("pole on the circle", [*ev, npz("c.npz", a=[1.0 + 0j, 0.5], b=[1.0, 1.0]), "--K", "4"]),
        ("pole outside", [*ev, npz("o.npz", a=pairs * 2, b=[1, 1]), "--K", "4"]),
        ("NaN", [*ev, npz("n.npz", a=pairs, b=[np.nan, np.nan]), "--K", "4"]),
        ("inf", [*ev, npz("i.npz", a=[np.inf, 0.5], b=[1.0, 1.0]), "--K", "4"]),
        ("NaN d", [*ev, npz("nd.npz", a=pairs, b=[1, 1], d=np.nan), "--K", "4"]),
        ("lengths", [*ev, npz("l.npz", a=pairs, b=[1.0, 1.0, 1.0]), "--K", "4"]),
        ("not conjugate", [*ev, npz("nc.npz", a=pairs, b=[1.0, 2.0j]), "--K", "4"]),
        ("object array", [*ev, npz("obj.npz", a=np.array([0.5, None], dtype=object), b=[1.0, 1.0]), "--K", "4"]),
        ("pickled module", [*ev, str(tmp_path / "module.pt"), "--format", "s4d", "--K", "4"]),
        ("no arrays a, b", [*ev, npz("x.npz", poles=pairs), "--K", "4"]),
        ("csv column", [*ev, str(tmp_path / "missing_col.csv"), "--K", "4"]),
        ("csv word", [*ev, str(tmp_path / "word.csv"), "--K", "4"]),
        ("channel too big", [*ev, str(tmp_path / "s4d.pt"), "--channel", "2", "--K", "4"]),
        ("channel missing", [*ev, str(tmp_path / "s4d.pt"), "--K", "4"]),
        ("channel malformed", [*ev, str(tmp_path / "s4d.pt"), "--channel", "0,1", "--K", "4"]),
        ("channel on npz", [*ev, npz("g2.npz", a=good_a, b=good_b), "--channel", "0", "--K", "4"]),
        ("K = 0", [*ev, npz("g3.npz", a=good_a, b=good_b), "--K", "4", "0"]),
        ("K < 0", [*ev, npz("g4.npz", a=good_a, b=good_b), "--K", "-3"]),
        ("rho = 1", [*ev, npz("g5.npz", a=good_a, b=good_b), "--K", "4", "--rho", "1"]),
        ("unknown suffix", [*ev, str(tmp_path / "g6.dat"), "--K", "4"]),
    ]


def test_bad_input_is_one_line_and_exit_2(tmp_path, caplog, capsys):
    (tmp_path / "g6.dat").write_bytes(b"\x00")  # exists, no known suffix
    for name, argv in bad_inputs(tmp_path):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="shiftbench"):
            assert cli.main(argv) == 2, name
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and "\n" not in errors[0].getMessage(), (name, caplog.text)
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err + captured.out, name


def test_a_pickled_object_array_is_refused_on_stderr_in_one_line(tmp_path):
    """The real command line in its own process: stderr is exactly one line, the status 2."""
    np.savez(tmp_path / "obj.npz", a=np.array([0.5, None], dtype=object), b=np.ones(2))
    proc = subprocess.run(
        [sys.executable, "-m", "shiftbench", "evaluate", str(tmp_path / "obj.npz"), "--K", "4"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "pickled object array" in proc.stderr, proc.stderr

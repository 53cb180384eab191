"""The exercise system: every checker passes its solution and fails its stub cleanly; every
known wrong answer is rejected with its diagnosis and the failing case named; a student's own
exception is reported as theirs with their traceback; the command line lists, checks, hints."""

import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tinymm import exercises as ex
from tinymm.app.cli import main

ROOT = Path(__file__).resolve().parent.parent
IDS = list(ex.EXERCISES)
WRONG = [(eid, name) for eid in IDS for name in ex.EXERCISES[eid].wrong_answers]


@pytest.fixture(autouse=True)
def _repo_exercises(monkeypatch):
    monkeypatch.setenv("TINYMM_EXERCISES_DIR", str(ROOT / "tutorials" / "exercises"))
    yield
    from tinymm.exercises import ex_rnn

    ex_rnn.use_cell(None)


def _solution(eid):
    return ex.load_function(ROOT / "tutorials" / "solutions" / f"{eid}.py",
                            ex.EXERCISES[eid].entry)


def test_every_exercise_has_a_stub_a_solution_hints_and_five_wrong_answers():
    assert len(IDS) >= 13
    for eid, item in ex.EXERCISES.items():
        assert (ROOT / "tutorials" / "exercises" / f"{eid}.py").is_file(), eid
        assert (ROOT / "tutorials" / "solutions" / f"{eid}.py").is_file(), eid
        assert len(item.hints) >= 3 and len(item.wrong_answers) >= 5, eid
        assert (ROOT / "tutorials" / item.tutorial).is_file(), (eid, item.tutorial)


@pytest.mark.parametrize("eid", IDS)
def test_solution_passes(eid):
    result = ex.check(eid, file=ROOT / "tutorials" / "solutions" / f"{eid}.py")
    assert result.ok and result.status == "passing", result.message
    assert "passing" in result.message


@pytest.mark.parametrize("eid", IDS)
def test_stub_fails_cleanly_as_not_started(eid):
    result = ex.check(eid)
    assert not result.ok and result.status == "not started", result.message
    assert "not implemented yet" in result.message and "Traceback" not in result.message


@pytest.mark.parametrize("eid,name", WRONG, ids=[f"{e}:{n}" for e, n in WRONG])
def test_wrong_answer_is_rejected_with_its_diagnosis(eid, name):
    fn, diagnosis = ex.EXERCISES[eid].wrong_answers[name]
    result = ex.check(eid, fn=fn)
    assert not result.ok, name
    assert diagnosis in result.message, result.message
    assert "case '" in result.message  # the failing case is named


def test_stubs_and_tutorials_never_import_the_solutions():
    for path in [*(ROOT / "tutorials" / "exercises").glob("*.py"),
                 *(ROOT / "tutorials").glob("[0-9]*.py")]:
        assert "solutions" not in path.read_text(), path


# ------------------------------------------------------------- diagnoses that matter most
def test_factor_names_the_batch_size_and_asks_the_question():
    def averaged(x, dout, kernel_size, stride=1, padding=0):
        return _solution("03-conv-dw")(x, dout, kernel_size, stride, padding) / len(x)

    result = ex.check("03-conv-dw", fn=averaged)
    assert "your dweight is the expected one divided by 3 (N, the batch size)" in result.message
    assert "did you average over the batch?" in result.message


def test_the_failing_case_is_named_and_the_passing_ones_listed():
    fn, _ = ex.EXERCISES["03-conv-dw"].wrong_answers["stride ignored in the window"]
    result = ex.check("03-conv-dw", fn=fn)
    assert "Wrong in case 'stride 2, padding 0'" in result.message
    assert "right in: stride 1, padding 1" in result.message
    fn, _ = ex.EXERCISES["04-embedding-backward"].wrong_answers["buffered fancy +="]
    result = ex.check("04-embedding-backward", fn=fn)
    assert "Wrong in case 'repeated indices' (right in: no repeated index)" in result.message


def test_conv_dw_locates_transposed_offsets_and_a_missing_batch_sum():
    """Moved from tests/test_conv2d.py (tutorial 03's old checker)."""
    right = _solution("03-conv-dw")

    def transposed_offsets(x, dout, kernel_size, stride=1, padding=0):
        return right(x, dout, kernel_size, stride, padding).transpose(0, 1, 3, 2)

    message = ex.check("03-conv-dw", fn=transposed_offsets).message
    assert "dweight[0, 0, 0, 1]" in message and "dweight[0, 0, 1, 1]" not in message
    assert "transposed" in message

    def missing_sum_over_batch(x, dout, kernel_size, stride=1, padding=0):
        return right(x[:1], dout[:1], kernel_size, stride, padding)

    result = ex.check("03-conv-dw", fn=missing_sum_over_batch)
    assert not result.ok and "dweight is wrong in 54 of 54 elements" in result.message


def test_lstm_cell_names_exactly_the_wrong_gate():
    """Moved from tests/test_lstm.py (tutorial 04's old checker)."""
    solution = _solution("04-lstm-cell")

    def broken(k, damage):
        def fn(*args):
            da, dc_prev = solution(*args)
            H = da.shape[1] // 4
            if k is None:
                return da, damage(dc_prev)
            da = da.copy()
            da[:, k * H:(k + 1) * H] = damage(da[:, k * H:(k + 1) * H])
            return da, dc_prev
        return fn

    names = ["gate i", "gate f", "gate g", "gate o"]
    for k, name in enumerate(names):
        result = ex.check("04-lstm-cell", fn=broken(k, lambda block: block * 1.1))
        assert not result.ok and name in result.message, result.message
        assert all(other not in result.message for other in names if other != name)
    result = ex.check("04-lstm-cell", fn=broken(None, lambda dc: -dc))
    assert not result.ok and "dc_prev" in result.message
    assert not any(n in result.message for n in names)


def test_softmax_backward_diagnoses_the_row_sum_and_only_blames_a_wrong_axis():
    """Moved from tests/test_attention.py; the axis diagnosis appears only when it applies."""
    result = ex.check("05-attention-softmax", fn=lambda P, dP: P * dP)
    assert "rowsum" in result.message and "over the queries" not in result.message
    result = ex.check("05-attention-softmax",
                      fn=lambda P, dP: P * (dP - (dP * P).sum(axis=-2, keepdims=True)))
    assert "wrong" in result.message and "over the queries" in result.message


def test_bptt_checks_dw_hh_over_every_step():
    fn, _ = ex.EXERCISES["04-lstm-bptt"].wrong_answers["dW_hh overwritten each step"]
    result = ex.check("04-lstm-bptt", fn=fn)
    assert "right in: T=1 step" in result.message  # one step cannot tell += from =
    assert "dweight_hh" in result.message and "right: dx, dh0, dc0, dweight_ih, dbias" in \
        result.message


def test_bptt_plugs_in_the_students_passing_cell(tmp_path, monkeypatch):
    marker = tmp_path / "calls.txt"
    cell = (ROOT / "tutorials" / "solutions" / "04-lstm-cell.py").read_text()
    cell = cell.replace("    do = dh * tanh_c\n",
                        f"    open({str(marker)!r}, 'a').write('x')\n    do = dh * tanh_c\n")
    (tmp_path / "04-lstm-cell.py").write_text(cell)
    shutil.copy(ROOT / "tutorials" / "solutions" / "04-lstm-bptt.py", tmp_path)
    monkeypatch.setenv("TINYMM_EXERCISES_DIR", str(tmp_path))
    result = ex.check("04-lstm-bptt")
    assert result.ok and "your 04-lstm-cell, which passes" in result.message
    assert len(marker.read_text()) > 11  # the cell ran once per time step inside the loop
    monkeypatch.setenv("TINYMM_EXERCISES_DIR", str(ROOT / "tutorials" / "exercises"))
    assert "the reference cell" in ex.check("04-lstm-bptt", fn=_solution("04-lstm-bptt")).message


# ---------------------------------------------------------------- the student's own errors
def test_a_students_exception_is_theirs_with_their_traceback(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text(textwrap.dedent("""\
        import numpy as np

        def helper(x):
            return x[10, 10, 10, 10]

        def conv2d_dweight(x, dout, kernel_size, stride=1, padding=0):
            return helper(x)
        """))
    result = ex.check("03-conv-dw", file=path)
    assert result.status == "error"
    message = result.message
    assert "your conv2d_dweight raised IndexError in case 'stride 1, padding 1'" in message
    assert "error in your code, not in the checker" in message
    assert f'File "{path}", line 4, in helper' in message and "x[10, 10, 10, 10]" in message
    assert "_core.py" not in message  # the checker's frames are left out


def test_a_syntax_error_in_the_file_is_reported_as_theirs(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text("def softplus_backward(x, grad):\n    return grad * (1 / (1 + np.exp(-x))\n")
    result = ex.check("01-softplus", file=path)
    assert result.status == "error" and "SyntaxError" in result.message
    assert "error in your file" in result.message


def test_wrong_return_count_and_shape_are_explained():
    result = ex.check("02-dense-backward", fn=lambda dout, x, w: (dout @ w, dout.T @ x))
    assert "must return 3 values (dx, dweight, dbias); got 2" in result.message
    result = ex.check("02-dense-backward", fn=lambda dout, x, w: (dout @ w, dout.T @ x, None))
    assert "dbias is None" in result.message


# ----------------------------------------------------------------------------- the CLI
def test_cli_list_check_hint(capsys):
    assert main(["exercises", "list"]) == 0
    out = capsys.readouterr().out
    assert all(eid in out for eid in IDS) and "not started" in out
    solution = ROOT / "tutorials" / "solutions" / "03-conv-dx.py"
    assert main(["exercises", "check", "03-conv-dx", "--file", str(solution)]) == 0
    assert "passing" in capsys.readouterr().out
    assert main(["exercises", "check", "03-conv-dx"]) == 1
    assert "not implemented yet" in capsys.readouterr().out
    assert main(["exercises", "hint", "03-conv-dx", "--level", "3"]) == 0
    assert "hint 3 of 3" in capsys.readouterr().out
    assert main(["exercises", "check", "99-nope"]) == 2
    assert "no exercise '99-nope'" in capsys.readouterr().out


def test_list_shows_passing_and_failing_for_the_students_files(tmp_path, monkeypatch, capsys):
    shutil.copy(ROOT / "tutorials" / "solutions" / "01-softplus.py", tmp_path)
    (tmp_path / "02-softmax-ce.py").write_text(
        "def softmax_cross_entropy_backward(logits, targets):\n    return logits * 0\n")
    monkeypatch.setenv("TINYMM_EXERCISES_DIR", str(tmp_path))
    assert ex.status("01-softplus") == "passing"
    assert ex.status("02-softmax-ce") == "failing"
    assert ex.status("03-conv-dw") == "missing"
    main(["exercises", "list"])
    out = capsys.readouterr().out
    assert "01-softplus            passing" in out and "02-softmax-ce          failing" in out


def test_expected_values_are_independent_of_the_checker():
    """The closed forms the RNN and attention checkers use agree with tinymm's autograd."""
    import tinymm
    from tinymm import functional as F
    from tinymm.exercises import ex_attention, ex_rnn

    case = ex.EXERCISES["04-lstm-bptt"].make_cases()[0]
    dout, dh_n, dc_n, cache = case.args
    w_ih, w_hh = cache["weight_ih"], cache["weight_hh"]
    H = w_hh.shape[1]
    r = np.random.default_rng(0)
    b = r.standard_normal(4 * H)
    for lengths in (None, [4, 2, 3]):
        cache = ex_rnn.lstm_forward(cache["x"], cache["h"][0], cache["c"][0], w_ih, w_hh, b,
                                    lengths)
        expected = ex_rnn.reference_bptt(dout, dh_n, dc_n, cache, ex_rnn.reference_cell_backward)
        leaves = [tinymm.tensor(a, requires_grad=True)
                  for a in (cache["x"], cache["h"][0], cache["c"][0], w_ih, w_hh, b)]
        out, (h_n, c_n) = F.lstm(leaves[0], leaves[3], leaves[4], leaves[5], None,
                                 hx=(leaves[1], leaves[2]), lengths=lengths)
        loss = (out * tinymm.tensor(dout)).sum() + (h_n * tinymm.tensor(dh_n)).sum() \
            + (c_n * tinymm.tensor(dc_n)).sum()
        loss.backward()
        for got, want in zip(leaves, expected):
            np.testing.assert_allclose(got.grad.array, want, rtol=1e-9, atol=1e-12)

    q, k, v, P, d_out = ex.EXERCISES["05-attention-dqdkdv"].make_cases()[1].args
    qt, kt, vt = (tinymm.tensor(a[:, None], requires_grad=True) for a in (q, k, v))
    (F.scaled_dot_product_attention(qt, kt, vt) * tinymm.tensor(d_out[:, None])).sum().backward()
    grads = ex_attention._attention_grads(q, k, v, P, d_out)
    for t, name in ((qt, "dq"), (kt, "dk"), (vt, "dv")):
        np.testing.assert_allclose(t.grad.array[:, 0], grads[name], rtol=1e-9, atol=1e-12)

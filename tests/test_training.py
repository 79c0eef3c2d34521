"""The training loop: convergence, history, evaluation, NaN guard, shuffling, seeding, exact
resume.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_lib.runtime.checkpoints import read_checkpoint
from course_lib.training import resume as resume_module
from course_lib.training.fit import evaluate, fit
from course_lib.training.steps import NonFiniteLossError

pytestmark = pytest.mark.usefixtures("quiet_progress")

TRUE_W = torch.tensor([[2.0, -3.0, 0.5]])
TRUE_B = torch.tensor([1.25])


def regression_data(n: int = 200, seed: int = 0, noise: float = 0.0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    y = x @ TRUE_W.T + TRUE_B + noise * torch.randn(n, 1, generator=g)  # (n, 1)
    return x, y


def mse(model, x, y):
    return nn.functional.mse_loss(model(x), y)


def noisy_mse(model, x, y):
    # Draws from the global RNG, so resuming is exact only if that RNG state is restored.
    return nn.functional.mse_loss(model(x + 0.1 * torch.randn_like(x)), y)


def new_model(init_seed: int = 0) -> nn.Module:
    torch.manual_seed(init_seed)
    return nn.Linear(3, 1)


def test_fit_recovers_known_linear_weights():
    model = new_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    history = fit(model, mse, regression_data(), optimizer=optimizer, epochs=30, batch_size=20)
    torch.testing.assert_close(model.weight.detach(), TRUE_W, atol=1e-3, rtol=0)
    torch.testing.assert_close(model.bias.detach(), TRUE_B, atol=1e-3, rtol=0)
    assert history["train_loss"][0] > 1.0 > 1e-5 > history["train_loss"][-1]


@pytest.mark.parametrize("epochs", [1, 3])
def test_history_lengths_and_test_loss_only_with_test_data(epochs):
    model = new_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    history = fit(model, mse, regression_data(), optimizer=optimizer, epochs=epochs, batch_size=32)
    assert set(history) == {"train_loss", "seconds"}
    assert len(history["train_loss"]) == len(history["seconds"]) == epochs
    assert all(s >= 0 for s in history["seconds"])

    model = new_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    test = regression_data(50, seed=1)
    history = fit(
        model,
        mse,
        regression_data(),
        optimizer=optimizer,
        epochs=epochs,
        batch_size=32,
        test_data=test,
    )
    assert set(history) == {"train_loss", "seconds", "test_loss"}
    assert len(history["test_loss"]) == epochs
    assert history["test_loss"][-1] == pytest.approx(evaluate(model, mse, test))


def test_train_loss_is_the_size_weighted_mean_of_batch_losses():
    # lr=0 keeps the model fixed, so each epoch's train loss must equal the full-data loss exactly
    # when batches are weighted by size (10 points in batches of 4, 4, 2).
    model = new_model()
    x, y = regression_data(10)
    history = fit(
        model,
        mse,
        (x, y),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.0),
        epochs=2,
        batch_size=4,
    )
    with torch.no_grad():
        full = mse(model, x, y).item()
    assert history["train_loss"] == pytest.approx([full, full], rel=1e-6)


def test_evaluate_weights_batches_by_size():
    values = torch.arange(10.0) ** 2  # batches of 4, 4, 2: the last batch has the largest values

    def batch_mean(model, v):
        return v.mean()

    result = evaluate(nn.Identity(), batch_mean, values, batch_size=4)
    by_hand = (4 * values[:4].mean() + 4 * values[4:8].mean() + 2 * values[8:].mean()) / 10
    unweighted = (values[:4].mean() + values[4:8].mean() + values[8:].mean()) / 3
    assert result == pytest.approx(by_hand.item())
    assert result == pytest.approx(values.mean().item())
    assert abs(by_hand - unweighted) > 1  # the test can tell the two apart


def test_evaluate_uses_eval_mode_and_restores_the_previous_mode():
    modes = []

    def record(model, v):
        modes.append(model.training)
        return v.mean()

    model = nn.Dropout(0.5)
    model.train()
    evaluate(model, record, torch.ones(6), batch_size=4)
    assert modes == [False, False] and model.training
    model.eval()
    evaluate(model, record, torch.ones(6), batch_size=4)
    assert not model.training


def test_evaluate_takes_tuples_and_checks_lengths():
    x, y = regression_data(10)
    model = new_model()
    with torch.no_grad():
        assert evaluate(model, mse, (x, y), batch_size=3) == pytest.approx(
            mse(model, x, y).item(), rel=1e-6
        )
    with pytest.raises(ValueError, match=r"\[10, 9\]"):
        evaluate(model, mse, (x, y[:9]))


def test_nan_loss_stops_training_and_names_the_epoch():
    calls = []

    def nan_on_third_call(model, x, y):
        calls.append(1)
        loss = mse(model, x, y)
        return loss * float("nan") if len(calls) == 3 else loss

    model = new_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    # 40 points in batches of 20: calls 1-2 are epoch 1, call 3 is epoch 2, step 0.
    with pytest.raises(NonFiniteLossError) as info:
        fit(
            model,
            nan_on_third_call,
            regression_data(40),
            optimizer=optimizer,
            epochs=5,
            batch_size=20,
        )
    assert "epoch 2" in str(info.value) and "step 0" in str(info.value)
    assert len(calls) == 3
    assert torch.isfinite(model.weight).all()  # the NaN step was never applied
    assert isinstance(info.value, FloatingPointError)


def test_huge_learning_rate_diverges_into_non_finite_loss_error():
    model = new_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e6)
    with pytest.raises(NonFiniteLossError, match=r"epoch \d+"):
        fit(model, mse, regression_data(), optimizer=optimizer, epochs=50, batch_size=10)


def run(
    seed: int, epochs: int = 3, loss_fn=mse, checkpoint=None, init_seed: int = 0, test_data=None
):
    model = new_model(init_seed=init_seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    history = fit(
        model,
        loss_fn,
        regression_data(60, noise=0.5),
        optimizer=optimizer,
        epochs=epochs,
        batch_size=8,
        seed=seed,
        checkpoint=checkpoint,
        test_data=test_data,
    )
    return model, history


def test_same_seed_same_weights_different_seed_different_weights():
    a, _ = run(seed=1)
    b, _ = run(seed=1)
    c, _ = run(seed=2)
    assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)
    assert not torch.equal(a.weight, c.weight)


def state_of(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def assert_same_state(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.mark.parametrize("loss_fn", [mse, noisy_mse], ids=["deterministic-loss", "noisy-loss"])
def test_resume_is_bitwise_identical_to_an_uninterrupted_run(tmp_path, loss_fn):
    test = regression_data(20, seed=5)
    torch.manual_seed(100)
    straight, straight_history = run(
        seed=7, epochs=4, loss_fn=loss_fn, checkpoint=tmp_path / "straight.pt", test_data=test
    )

    torch.manual_seed(100)
    _, first_half = run(
        seed=7, epochs=2, loss_fn=loss_fn, checkpoint=tmp_path / "resumed.pt", test_data=test
    )
    assert len(first_half["train_loss"]) == 2
    assert read_checkpoint(tmp_path / "resumed.pt")["progress"]["epochs_done"] == 2

    torch.manual_seed(12345)  # scramble the global RNG, as a restarted kernel would
    # A new model with other initial weights and a fresh optimizer: everything must come from the
    # file.
    resumed, resumed_history = run(
        seed=7,
        epochs=4,
        loss_fn=loss_fn,
        checkpoint=tmp_path / "resumed.pt",
        init_seed=99,
        test_data=test,
    )

    assert_same_state(state_of(resumed), state_of(straight))
    assert resumed_history["train_loss"] == straight_history["train_loss"]
    assert resumed_history["test_loss"] == straight_history["test_loss"]
    assert len(resumed_history["seconds"]) == 4


def test_noisy_resume_depends_on_restoring_the_rng(tmp_path, monkeypatch):
    # Control for the test above: without the RNG restore the noisy run does NOT match,
    # so that test really checks the RNG state and not only the weights and optimizer.
    torch.manual_seed(100)
    straight, _ = run(seed=7, epochs=4, loss_fn=noisy_mse, checkpoint=tmp_path / "straight.pt")
    torch.manual_seed(100)
    run(seed=7, epochs=2, loss_fn=noisy_mse, checkpoint=tmp_path / "resumed.pt")
    torch.manual_seed(12345)
    monkeypatch.setattr(resume_module, "restore_global_random_state", lambda state, device: None)
    resumed, _ = run(seed=7, epochs=4, loss_fn=noisy_mse, checkpoint=tmp_path / "resumed.pt")
    assert not torch.equal(resumed.weight, straight.weight)


def test_finished_checkpoint_just_loads(tmp_path):
    path = tmp_path / "done.pt"
    trained, history = run(seed=3, epochs=2, checkpoint=path)
    file_bytes = path.read_bytes()

    def must_not_train(model, *batch):
        raise AssertionError("a finished run must not train again")

    model = new_model(init_seed=42)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    loaded_history = fit(
        model,
        must_not_train,
        regression_data(60, noise=0.5),
        optimizer=optimizer,
        epochs=2,
        batch_size=8,
        seed=3,
        checkpoint=path,
    )
    assert_same_state(state_of(model), state_of(trained))
    assert loaded_history == history
    assert path.read_bytes() == file_bytes  # nothing re-saved


def test_checkpoint_is_written_after_every_epoch(tmp_path):
    path = tmp_path / "run.pt"
    model, history = run(seed=0, epochs=3, checkpoint=path)
    state = read_checkpoint(path)
    assert state["progress"] == {"epochs_done": 3, "epochs": 3}
    assert state["history"]["train_loss"] == history["train_loss"]
    assert_same_state(state["model"], state_of(model))


def test_epoch_metrics_are_recorded_per_epoch_in_eval_mode_without_gradients(quiet_progress):
    seen = []

    def metrics(model):
        seen.append((model.training, torch.is_grad_enabled()))
        return {"weight_norm": model.weight.norm(), "constant": 1.0}

    model = torch.nn.Linear(2, 1)
    x = torch.randn(32, 2, generator=torch.Generator().manual_seed(0))
    history = fit(
        model,
        lambda m, b: m(b).pow(2).mean(),
        x,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        epochs=3,
        batch_size=8,
        epoch_metrics=metrics,
    )
    assert seen == [(False, False)] * 3
    assert history["constant"] == [1.0, 1.0, 1.0]
    assert (
        len(history["weight_norm"]) == 3 and history["weight_norm"][0] > history["weight_norm"][-1]
    )
    assert model.training  # training mode restored after measuring

"""Deep belief nets: stacking checks, generation, classification, wake-sleep, MLP pretraining."""

import pytest
import torch

from course_lib.baselines.sklearn_rbm import compare_with_sklearn, rbm_from_sklearn
from course_lib.data.bars import bars_and_stripes
from course_lib.models.dbn import DBN, DirectedLayer, StackMismatchError, check_stack, sigmoid_mlp
from course_lib.models.rbm import BernoulliRBM, LabelledRBM
from course_lib.training.dbn import greedy_pretrain, up_down_step, wake_sleep


def bars_with_labels(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """3x3 bars and stripes labelled 0 for horizontal stripes, 1 for vertical bars (ties: 0)."""
    data = bars_and_stripes(n, size=3, seed=seed)
    images = data.view(-1, 3, 3)
    stripes = (images == images[:, :, :1]).all(dim=(1, 2))
    return data, (~stripes).long()


@pytest.fixture(scope="module")
def stack():
    data, labels = bars_with_labels(600)
    # CD-1 for the top too: on this toy the plain path is the one that separates the two classes.
    return greedy_pretrain(
        data,
        labels,
        (16, 16),
        top_hidden=32,
        n_labels=2,
        epochs=20,
        batch_size=20,
        learning_rate=0.2,
        seed=0,
        top_persistent=False,
    )


def test_greedy_pretraining_builds_a_matching_stack_with_labels_on_top(stack, quiet_progress):
    assert [(r.n_visible, r.n_hidden) for r in stack] == [(9, 16), (16, 16), (18, 32)]
    assert isinstance(stack[-1], LabelledRBM) and stack[-1].n_features == 16
    check_stack(stack)


def test_only_the_top_rbm_is_trained_persistently_by_default(monkeypatch, quiet_progress):
    import course_lib.training.dbn as dbn_training

    calls = []
    monkeypatch.setattr(
        dbn_training, "train_rbm", lambda rbm, data, **options: calls.append(options)
    )
    data, labels = bars_with_labels(40)
    greedy_pretrain(
        data, labels, (8, 6), top_hidden=5, n_labels=2, epochs=1, batch_size=20, learning_rate=0.1
    )
    assert [call.get("persistent", False) for call in calls] == [False, False, True]
    assert calls[-1]["decay_to_zero"]


def test_stack_size_mismatches_are_named():
    with pytest.raises(StackMismatchError, match="RBM 0 has 8 hidden units but RBM 1 expects 7"):
        check_stack([BernoulliRBM(9, 8), BernoulliRBM(7, 5)])
    with pytest.raises(StackMismatchError, match="top RBM takes 5"):
        DBN([DirectedLayer(9, 8)], LabelledRBM(5, 2, 4))
    with pytest.raises(TypeError, match="LabelledRBM"):
        DBN.from_stack([BernoulliRBM(9, 8)])
    with pytest.raises(StackMismatchError, match="pretrained layer 0 is 9->8"):
        sigmoid_mlp((9, 7), 2, [DirectedLayer(9, 8)])


def test_a_fresh_dbn_has_tied_weights_and_leaves_the_stack_alone(stack):
    dbn = DBN.from_stack(stack)
    for layer, rbm in zip(dbn.layers, stack):
        assert torch.equal(layer.recognition_weight, rbm.weight)
        assert torch.equal(layer.generative_weight, rbm.weight)
        assert torch.equal(layer.generative_bias, rbm.visible_bias)
    assert dbn.top is not stack[-1]


def test_the_pretrained_dbn_classifies_and_generates_the_requested_class(stack):
    dbn = DBN.from_stack(stack)
    data, labels = bars_with_labels(400, seed=1)
    assert (dbn.classify(data) == labels).float().mean() > 0.9
    wanted = torch.tensor([0] * 50 + [1] * 50)
    images = dbn.generate(wanted, gibbs_steps=200, generator=torch.Generator().manual_seed(0))
    assert images.shape == (100, 9) and ((images >= 0) & (images <= 1)).all()
    recognised = dbn.classify((images > 0.5).float()) == wanted
    # Balanced accuracy: a generator that ignored the clamped label would score 0.5 on average.
    assert (recognised[:50].float().mean() + recognised[50:].float().mean()) / 2 > 0.65


def test_generation_is_reproducible(stack):
    dbn = DBN.from_stack(stack)
    labels = torch.tensor([0, 1, 1])
    a = dbn.generate(labels, 5, torch.Generator().manual_seed(3))
    b = dbn.generate(labels, 5, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_wake_sleep_unties_the_weights_and_improves_reconstruction(stack, quiet_progress):
    dbn = DBN.from_stack(stack)
    data, labels = bars_with_labels(600, seed=2)

    def generative_error() -> float:
        """How well the down weights reproduce the data from the up pass's states."""
        upper = dbn.layers[0].recognise(data)
        return (data - dbn.layers[0].generate(upper)).square().mean().item()

    before = generative_error()
    history = wake_sleep(
        dbn,
        data,
        labels,
        epochs=10,
        batch_size=20,
        learning_rate=0.1,
        seed=0,
        epoch_metrics=lambda model: {
            "accuracy": (model.classify(data) == labels).float().mean().item()
        },
    )
    assert len(history.metrics["accuracy"]) == 10
    layer = dbn.layers[0]
    assert not torch.equal(layer.recognition_weight, layer.generative_weight)
    assert generative_error() < before


def test_a_zero_learning_rate_changes_nothing(stack):
    dbn = DBN.from_stack(stack)
    data, labels = bars_with_labels(20)
    before = {name: p.clone() for name, p in dbn.state_dict().items()}
    up_down_step(
        dbn, data, labels, learning_rate=0.0, top_k=2, generator=torch.Generator().manual_seed(0)
    )
    assert all(torch.equal(before[name], p) for name, p in dbn.state_dict().items())


def test_pretrained_mlp_starts_from_the_recognition_weights(stack):
    dbn = DBN.from_stack(stack)
    mlp = sigmoid_mlp((9, 16, 16), 2, dbn.layers)
    x = bars_and_stripes(5, size=3, seed=4)
    torch.testing.assert_close(mlp[:4](x), dbn.up(x))  # Linear, Sigmoid, Linear, Sigmoid
    assert mlp(x).shape == (5, 2)


def test_sklearn_comparison_scores_both_models_with_the_same_estimator(quiet_progress):
    data = bars_and_stripes(400, size=3, seed=0)
    result = compare_with_sklearn(
        data, data[:50], n_hidden=6, epochs=3, batch_size=10, learning_rate=0.1
    )
    assert result.course_seconds > 0 and result.sklearn_seconds > 0
    assert result.speedup == pytest.approx(result.sklearn_seconds / result.course_seconds)
    assert (
        -9 * 0.7 < result.sklearn_pseudo_log_likelihood < 0
    )  # better than coin flips (-6.2 nats), finite
    assert -9 * 0.7 < result.course_pseudo_log_likelihood < 0
    assert [row[0] for row in result.rows()] == ["course_lib (torch)", "scikit-learn"]


def test_sklearn_parameters_are_converted_with_the_right_orientation():
    from sklearn.neural_network import BernoulliRBM as SklearnRBM

    data = bars_and_stripes(100, size=3, seed=0).numpy()
    model = SklearnRBM(n_components=4, n_iter=2, random_state=0).fit(data)
    rbm = rbm_from_sklearn(model)
    v = torch.from_numpy(data[:7])
    torch.testing.assert_close(
        rbm.hidden_probs(v).detach(), torch.from_numpy(model.transform(data[:7])).float()
    )

"""The Bernoulli RBM against enumeration, closed forms and autograd; contrastive divergence;
training.
"""

import pytest
import torch

from course_lib.data.bars import bars_and_stripes, bars_and_stripes_patterns
from course_lib.evaluation import rbm_exact
from course_lib.models.rbm import BernoulliRBM, LabelledRBM, NotBinaryError
from course_lib.training.rbm import (
    cd_gradient,
    held_out_metrics,
    pseudo_log_likelihood,
    reconstruction_error,
    train_rbm,
)


def random_rbm(
    n_visible: int, n_hidden: int, seed: int = 0, scale: float = 1.0, dtype=torch.float64
) -> BernoulliRBM:
    generator = torch.Generator().manual_seed(seed)
    rbm = BernoulliRBM(n_visible, n_hidden).to(dtype)
    with torch.no_grad():
        rbm.weight.copy_(scale * torch.randn(n_visible, n_hidden, generator=generator))
        rbm.visible_bias.copy_(scale * torch.randn(n_visible, generator=generator))
        rbm.hidden_bias.copy_(scale * torch.randn(n_hidden, generator=generator))
    return rbm


def joint_log_weights(rbm: BernoulliRBM) -> torch.Tensor:
    """-E(v, h) for every joint state: (2^n_visible, 2^n_hidden), straight from the energy."""
    v = rbm_exact.all_states(rbm.n_visible)
    h = rbm_exact.all_states(rbm.n_hidden)
    pairs_v = v.repeat_interleave(len(h), dim=0)
    pairs_h = h.repeat(len(v), 1)
    return -rbm.energy(pairs_v, pairs_h).detach().view(len(v), len(h))


def test_energy_matches_the_seed_formula_term_by_term():
    rbm = random_rbm(3, 2)
    v = torch.tensor([[1.0, 0.0, 1.0]], dtype=torch.float64)
    h = torch.tensor([[0.0, 1.0]], dtype=torch.float64)
    w, a, b = rbm.weight, rbm.visible_bias, rbm.hidden_bias
    expected = -(w[0, 1] + w[2, 1] + a[0] + a[2] + b[1])
    torch.testing.assert_close(rbm.energy(v, h), expected.view(1))


def test_free_energy_sums_the_hidden_states_out():
    rbm = random_rbm(4, 3)
    log_weights = joint_log_weights(rbm)  # (16, 8)
    torch.testing.assert_close(
        -rbm.free_energy(rbm_exact.all_states(4)).detach(), torch.logsumexp(log_weights, 1)
    )
    torch.testing.assert_close(
        -rbm.hidden_free_energy(rbm_exact.all_states(3)).detach(), torch.logsumexp(log_weights, 0)
    )


@pytest.mark.parametrize(
    "shape", [(4, 3), (3, 5)]
)  # enumerates the visible side, then the hidden side
def test_log_partition_and_likelihood_match_the_joint_enumeration(shape):
    rbm = random_rbm(*shape, seed=1)
    log_weights = joint_log_weights(rbm)
    log_z = torch.logsumexp(log_weights.flatten(), 0)
    torch.testing.assert_close(rbm_exact.log_partition(rbm), log_z)
    v = rbm_exact.all_states(shape[0])
    log_p = rbm_exact.log_likelihood(rbm, v)
    torch.testing.assert_close(log_p, torch.logsumexp(log_weights, 1) - log_z)
    torch.testing.assert_close(torch.logsumexp(log_p, 0), torch.zeros((), dtype=torch.float64))


def test_conditionals_are_the_closed_form_sigmoids():
    rbm = random_rbm(3, 4, seed=2)
    log_weights = joint_log_weights(rbm)  # rows: v states, columns: h states
    v_states, h_states = rbm_exact.all_states(3), rbm_exact.all_states(4)
    p_h_given_v = torch.softmax(log_weights, dim=1) @ h_states  # E[h | v] = p(h_j = 1 | v): (8, 4)
    p_v_given_h = torch.softmax(log_weights, dim=0).t() @ v_states  # (16, 3)
    torch.testing.assert_close(rbm.hidden_probs(v_states).detach(), p_h_given_v)
    torch.testing.assert_close(rbm.visible_probs(h_states).detach(), p_v_given_h)
    b, w = rbm.hidden_bias, rbm.weight
    torch.testing.assert_close(
        rbm.hidden_probs(v_states[5:6]).detach(),
        (1 / (1 + torch.exp(-b - v_states[5] @ w))).view(1, -1).detach(),
    )


def test_exact_gradient_matches_autograd_of_the_exact_log_likelihood():
    rbm = random_rbm(5, 3, seed=3, scale=0.7)
    data = bars_and_stripes(12, size=2, seed=0)
    data = torch.cat([data, data[:, :1]], 1).double()  # 5 visible units
    log_z = torch.logsumexp(-rbm.free_energy(rbm_exact.all_states(5)), 0)
    mean_log_likelihood = (-rbm.free_energy(data) - log_z).mean()
    mean_log_likelihood.backward()
    gradient = rbm_exact.exact_gradient(rbm, data)
    torch.testing.assert_close(gradient.weight, rbm.weight.grad)
    torch.testing.assert_close(gradient.visible_bias, rbm.visible_bias.grad)
    torch.testing.assert_close(gradient.hidden_bias, rbm.hidden_bias.grad)


def test_cd_gradient_is_the_gradient_of_the_free_energy_gap():
    """CD's statistics equal -d/dtheta [F(v0) - F(vk)] for the chain it actually ran."""
    rbm = random_rbm(6, 4, seed=4)
    v0 = bars_and_stripes(20, size=2, seed=1).repeat(1, 2)[:, :6].double()
    step = cd_gradient(rbm, v0, k=3, generator=torch.Generator().manual_seed(0))
    gap = rbm.free_energy(v0).mean() - rbm.free_energy(step.negative_visible).mean()
    gap.backward()
    torch.testing.assert_close(step.gradient.weight, -rbm.weight.grad)
    torch.testing.assert_close(step.gradient.visible_bias, -rbm.visible_bias.grad)
    torch.testing.assert_close(step.gradient.hidden_bias, -rbm.hidden_bias.grad)


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0).item()


def test_cd_gradient_points_along_the_exact_gradient_and_better_with_more_steps():
    rbm = random_rbm(9, 6, seed=5, scale=0.5)
    data = bars_and_stripes_patterns(3).double()
    exact = rbm_exact.exact_gradient(rbm, data).weight
    many = data.repeat(400, 1)  # many chains per pattern average the sampling noise away
    generator = torch.Generator().manual_seed(0)
    cd1 = cd_gradient(rbm, many, k=1, generator=generator).gradient.weight
    cd50 = cd_gradient(rbm, many, k=50, generator=generator).gradient.weight
    assert cosine(cd1, exact) > 0.5
    assert cosine(cd50, exact) > 0.97
    assert cosine(cd50, exact) > cosine(cd1, exact)


def test_persistent_chain_resumes_from_the_given_hidden_states():
    rbm = random_rbm(6, 4, seed=6).float()
    v0 = torch.ones(5, 6)
    chain = torch.zeros(5, 4)
    a = cd_gradient(rbm, v0, 1, torch.Generator().manual_seed(1), chain_hidden=chain)
    b = cd_gradient(rbm, v0, 1, torch.Generator().manual_seed(1), chain_hidden=chain)
    c = cd_gradient(rbm, v0, 1, torch.Generator().manual_seed(1))
    torch.testing.assert_close(a.negative_visible, b.negative_visible)
    assert a.negative_hidden.shape == (5, 4)
    assert not torch.equal(a.gradient.weight, c.gradient.weight)


def test_sampling_is_reproducible_with_a_generator_and_has_the_right_shapes():
    rbm = random_rbm(7, 3, seed=7).float()
    probs_a, v_a = rbm.sample(10, steps=5, generator=torch.Generator().manual_seed(3))
    probs_b, v_b = rbm.sample(10, steps=5, generator=torch.Generator().manual_seed(3))
    assert v_a.shape == probs_a.shape == (10, 7)
    assert torch.equal(v_a, v_b) and torch.equal(probs_a, probs_b)
    assert set(v_a.unique().tolist()) <= {0.0, 1.0}
    assert ((probs_a > 0) & (probs_a < 1)).all()


def test_pseudo_log_likelihood_matches_flipping_every_pixel_by_hand():
    rbm = random_rbm(5, 4, seed=8)
    v = rbm_exact.all_states(5)[::3]
    expected = torch.zeros(len(v), dtype=torch.float64)
    for i in range(5):
        flipped = v.clone()
        flipped[:, i] = 1 - flipped[:, i]
        expected += torch.nn.functional.logsigmoid(
            rbm.free_energy(flipped) - rbm.free_energy(v)
        ).detach()
    torch.testing.assert_close(pseudo_log_likelihood(rbm, v, chunk=2), expected)


def test_training_raises_the_exact_likelihood_and_is_reproducible(quiet_progress):
    data = bars_and_stripes(1400, size=3, seed=0)
    patterns = bars_and_stripes_patterns(3)

    def trained(seed: int, persistent: bool) -> BernoulliRBM:
        torch.manual_seed(0)
        rbm = BernoulliRBM(9, 8, weight_std=0.1)
        train_rbm(
            rbm,
            data,
            epochs=20,
            batch_size=14,
            learning_rate=0.1,
            momentum=0.5,
            persistent=persistent,
            decay_to_zero=persistent,
            seed=seed,
        )
        return rbm

    torch.manual_seed(0)
    untrained = rbm_exact.log_likelihood(BernoulliRBM(9, 8, weight_std=0.1), patterns).mean()
    for persistent in (False, True):
        first, second = trained(1, persistent), trained(1, persistent)
        assert torch.equal(first.weight, second.weight)
        # Untrained: about -6.3 nats a pattern; the best possible is log(1/14) = -2.64.
        assert rbm_exact.log_likelihood(first, patterns).mean() > untrained + 2.0


def test_training_records_its_held_out_metrics(quiet_progress):
    data = bars_and_stripes(140, size=3, seed=0)
    rbm = BernoulliRBM(9, 4)
    history = train_rbm(
        rbm,
        data,
        epochs=3,
        batch_size=14,
        learning_rate=0.05,
        epoch_metrics=held_out_metrics(data[:30]),
    )
    assert set(history.metrics) == {"reconstruction_error", "pseudo_log_likelihood"}
    assert all(len(values) == 3 for values in history.metrics.values())
    assert history.seconds > 0
    assert 0 <= reconstruction_error(rbm, data) <= 1


def test_non_binary_or_misshapen_data_gets_a_clear_error(quiet_progress):
    rbm = BernoulliRBM(9, 4)
    with pytest.raises(NotBinaryError, match="binarized_mnist"):
        train_rbm(rbm, torch.full((10, 9), 0.5), epochs=1, batch_size=5, learning_rate=0.1)
    with pytest.raises(ValueError, match=r"\(batch, 9\).*flatten"):
        rbm.free_energy(torch.zeros(4, 3, 3))
    with pytest.raises(ValueError, match="at least 1"):
        cd_gradient(rbm, torch.zeros(2, 9), k=0)
    with pytest.raises(ValueError, match="course_lib.evaluation.ais"):
        rbm_exact.log_partition(BernoulliRBM(30, 30))


def test_labelled_rbm_uses_one_softmax_label_group():
    torch.manual_seed(0)
    rbm = LabelledRBM(n_features=6, n_labels=4, n_hidden=5, weight_std=0.5)
    h = torch.bernoulli(torch.full((8, 5), 0.5))
    probs, v = rbm.sample_visible(h, torch.Generator().manual_seed(0))
    torch.testing.assert_close(probs[:, 6:].sum(1), torch.ones(8))
    assert torch.equal(v[:, 6:].sum(1), torch.ones(8))
    features = torch.bernoulli(torch.full((3, 6), 0.5))
    energies = rbm.label_free_energies(features)
    for label in range(4):
        labels = torch.full((3,), label)
        torch.testing.assert_close(
            energies[:, label], rbm.free_energy(rbm.join(features, labels)).detach()
        )
    assert rbm.clamped_chain(features, torch.tensor([0, 1, 2]), steps=3).shape == (3, 6)


def test_bars_and_stripes_are_all_rows_or_all_columns():
    for size, count in [(2, 6), (3, 14), (4, 30)]:
        patterns = bars_and_stripes_patterns(size).view(-1, size, size)
        assert len(patterns) == count
        rows_constant = (patterns == patterns[:, :, :1]).all(dim=(1, 2))
        columns_constant = (patterns == patterns[:, :1, :]).all(dim=(1, 2))
        assert (rows_constant | columns_constant).all()
    with pytest.raises(ValueError, match="size"):
        bars_and_stripes_patterns(1)

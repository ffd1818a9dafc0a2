"""Hybrid (Hamiltonian) Monte Carlo sampling from a 5-d Gaussian: leapfrog steps in a scan
whose step takes the energy's gradient, a Metropolis-Hastings accept drawn from the random
stream, and a step size adapted towards a target acceptance rate, all in the updates of one
compiled function of no arguments; written as the DeepLearningTutorials write it
(``hmc/hmc.py`` and ``hmc/test_hmc.py``), with only the imports changed.

    python examples/dlt/hmc.py [--samples N]
"""

import argparse

import numpy

import codegen as theano
from codegen import function, shared
from codegen import tensor as TT
from codegen.sandbox.rng_mrg import MRG_RandomStreams as RandomStreams

sharedX = (lambda X, name: shared(numpy.asarray(X, dtype=theano.config.floatX), name=name))  # noqa: E731


def kinetic_energy(vel):
    """Returns the kinetic energy associated with the given velocity and mass of 1."""
    return 0.5 * (vel ** 2).sum(axis=1)


def hamiltonian(pos, vel, energy_fn):
    """Returns the Hamiltonian (sum of potential and kinetic energy) for the given velocity
    and position."""
    return energy_fn(pos) + kinetic_energy(vel)


def metropolis_hastings_accept(energy_prev, energy_next, s_rng):
    """Performs a Metropolis-Hastings accept-reject move."""
    ediff = energy_prev - energy_next
    return (TT.exp(ediff) - s_rng.uniform(size=energy_prev.shape)) >= 0


def simulate_dynamics(initial_pos, initial_vel, stepsize, n_steps, energy_fn):
    """Return final (position, velocity) obtained after an `n_steps` leapfrog updates,
    using Hamiltonian dynamics."""

    def leapfrog(pos, vel, step):
        dE_dpos = TT.grad(energy_fn(pos).sum(), pos)
        new_vel = vel - step * dE_dpos
        new_pos = pos + step * new_vel
        return [new_pos, new_vel], {}

    initial_energy = energy_fn(initial_pos)
    dE_dpos = TT.grad(initial_energy.sum(), initial_pos)
    vel_half_step = initial_vel - 0.5 * stepsize * dE_dpos
    pos_full_step = initial_pos + stepsize * vel_half_step
    (all_pos, all_vel), scan_updates = theano.scan(
        leapfrog,
        outputs_info=[dict(initial=pos_full_step), dict(initial=vel_half_step)],
        non_sequences=[stepsize],
        n_steps=n_steps - 1)
    final_pos = all_pos[-1]
    final_vel = all_vel[-1]
    assert not scan_updates
    energy = energy_fn(final_pos)
    final_vel = final_vel - 0.5 * stepsize * TT.grad(energy.sum(), final_pos)
    return final_pos, final_vel


def hmc_move(s_rng, positions, energy_fn, stepsize, n_steps):
    """Perform one iteration of sampling: new velocities, `n_steps` leapfrog steps, and an
    accept-reject decision."""
    initial_vel = s_rng.normal(size=positions.shape)
    final_pos, final_vel = simulate_dynamics(
        initial_pos=positions, initial_vel=initial_vel, stepsize=stepsize, n_steps=n_steps,
        energy_fn=energy_fn)
    accept = metropolis_hastings_accept(
        energy_prev=hamiltonian(positions, initial_vel, energy_fn),
        energy_next=hamiltonian(final_pos, final_vel, energy_fn),
        s_rng=s_rng)
    return accept, final_pos


def hmc_updates(positions, stepsize, avg_acceptance_rate, final_pos, accept,
                target_acceptance_rate, stepsize_inc, stepsize_dec, stepsize_min,
                stepsize_max, avg_acceptance_slowness):
    """The updates of positions, step size and average acceptance rate."""
    accept_matrix = accept.dimshuffle(0, *(('x',) * (final_pos.ndim - 1)))
    new_positions = TT.switch(accept_matrix, final_pos, positions)
    _new_stepsize = TT.switch(avg_acceptance_rate > target_acceptance_rate,
                              stepsize * stepsize_inc, stepsize * stepsize_dec)
    new_stepsize = TT.clip(_new_stepsize, stepsize_min, stepsize_max)
    mean_dtype = theano.scalar.upcast(accept.dtype, avg_acceptance_rate.dtype)
    new_acceptance_rate = TT.add(
        avg_acceptance_slowness * avg_acceptance_rate,
        (1.0 - avg_acceptance_slowness) * accept.mean(dtype=mean_dtype))
    return [(positions, new_positions),
            (stepsize, new_stepsize),
            (avg_acceptance_rate, new_acceptance_rate)]


class HMC_sampler(object):
    """Convenience wrapper for performing Hybrid Monte Carlo (HMC)."""

    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)

    @classmethod
    def new_from_shared_positions(cls, shared_positions, energy_fn, initial_stepsize=0.01,
                                  target_acceptance_rate=.9, n_steps=20, stepsize_dec=0.98,
                                  stepsize_min=0.001, stepsize_max=0.25, stepsize_inc=1.02,
                                  avg_acceptance_slowness=0.9, seed=12345):
        stepsize = sharedX(initial_stepsize, 'hmc_stepsize')
        avg_acceptance_rate = sharedX(target_acceptance_rate, 'avg_acceptance_rate')
        s_rng = RandomStreams(seed)
        accept, final_pos = hmc_move(s_rng, shared_positions, energy_fn, stepsize, n_steps)
        simulate_updates = hmc_updates(
            shared_positions, stepsize, avg_acceptance_rate, final_pos=final_pos,
            accept=accept, stepsize_min=stepsize_min, stepsize_max=stepsize_max,
            stepsize_inc=stepsize_inc, stepsize_dec=stepsize_dec,
            target_acceptance_rate=target_acceptance_rate,
            avg_acceptance_slowness=avg_acceptance_slowness)
        simulate = function([], [], updates=simulate_updates)
        return cls(positions=shared_positions, stepsize=stepsize, stepsize_min=stepsize_min,
                   stepsize_max=stepsize_max, avg_acceptance_rate=avg_acceptance_rate,
                   target_acceptance_rate=target_acceptance_rate, s_rng=s_rng,
                   _updates=simulate_updates, simulate=simulate)

    def draw(self, **kwargs):
        """Returns a new position obtained after `n_steps` of HMC simulation."""
        self.simulate()
        return self.positions.get_value(borrow=False)


def sampler_on_nd_gaussian(sampler_cls, burnin, n_samples, dim=10):
    """(sampler, target mean, target covariance, samples) of HMC on a dim-d Gaussian."""
    batchsize = 3
    rng = numpy.random.RandomState(123)
    mu = numpy.array(rng.rand(dim) * 10, dtype=theano.config.floatX)
    cov = numpy.array(rng.rand(dim, dim), dtype=theano.config.floatX)
    cov = (cov + cov.T) / 2.
    cov[numpy.arange(dim), numpy.arange(dim)] = 1.0
    cov_inv = numpy.linalg.inv(cov)

    def gaussian_energy(x):
        return 0.5 * (theano.tensor.dot((x - mu), cov_inv) * (x - mu)).sum(axis=1)

    position = rng.randn(batchsize, dim).astype(theano.config.floatX)
    position = theano.shared(position)
    sampler = sampler_cls(position, gaussian_energy, initial_stepsize=1e-3, stepsize_max=0.5)
    [sampler.draw() for r in range(burnin)]
    _samples = numpy.asarray([sampler.draw() for r in range(n_samples)])
    samples = _samples.T.reshape(dim, -1).T
    print('****** TARGET VALUES ******')
    print('target mean:', mu)
    print('target cov:\n', cov)
    print('****** EMPIRICAL MEAN/COV USING HMC ******')
    print('empirical mean: ', samples.mean(axis=0))
    print('empirical_cov:\n', numpy.cov(samples.T))
    print('****** HMC INTERNALS ******')
    print('final stepsize', sampler.stepsize.get_value())
    print('final acceptance_rate', sampler.avg_acceptance_rate.get_value())
    return sampler, mu, cov, samples


def test_hmc(burnin=1000, n_samples=1000):
    sampler, mu, cov, samples = sampler_on_nd_gaussian(
        HMC_sampler.new_from_shared_positions, burnin=burnin, n_samples=n_samples, dim=5)
    assert abs(sampler.avg_acceptance_rate.get_value()
               - sampler.target_acceptance_rate) < .1
    assert sampler.stepsize.get_value() >= sampler.stepsize_min
    assert sampler.stepsize.get_value() <= sampler.stepsize_max
    return sampler, mu, cov, samples


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--samples', type=int, default=1000)
    args = parser.parse_args()
    test_hmc(n_samples=args.samples)

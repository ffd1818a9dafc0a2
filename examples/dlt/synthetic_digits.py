"""A digits-like dataset made here (no download): 10 classes of 28 x 28 images in [0, 1],
each class a blurred stroke pattern of its own, examples its pattern shifted and noised
(``logistic_sgd.load_data`` splits it and holds it in shared variables); and the learning
curves as a PNG."""

import numpy


def make_digits(n, seed, side=28, classes=10):
    """(x, y): ``n`` images of ``side`` x ``side`` pixels flattened, and their labels."""
    rng = numpy.random.RandomState(seed)
    proto_rng = numpy.random.RandomState(1234)  # the classes are the same in every split
    yy, xx = numpy.mgrid[0:side, 0:side] / (side - 1.0)
    prototypes = []
    for _ in range(classes):
        image = numpy.zeros((side, side))
        for _ in range(3):  # three strokes of random direction and place
            (x0, y0), (x1, y1) = proto_rng.uniform(0.2, 0.8, (2, 2))
            t = numpy.linspace(0, 1, 40)[:, None, None]
            px, py = x0 + (x1 - x0) * t, y0 + (y1 - y0) * t
            image += numpy.exp(-((xx - px) ** 2 + (yy - py) ** 2) / 0.004).max(axis=0)
        prototypes.append(numpy.clip(image, 0, 1))
    y = rng.randint(0, classes, n)
    x = numpy.empty((n, side * side))
    for i, label in enumerate(y):
        shifted = numpy.roll(prototypes[label], rng.randint(-2, 3, 2), axis=(0, 1))
        noisy = shifted * rng.uniform(0.6, 1.0) + rng.uniform(0, 0.35, (side, side))
        x[i] = numpy.clip(noisy, 0, 1).ravel()
    return x, y


def plot_curves(path, title, history, ylabel='error (%)'):
    """A PNG of the learning curves: ``history`` maps a curve's name to (x, y) lists."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, (xs, ys) in history.items():
        ax.plot(xs, ys, marker='o', markersize=3, label=name)
    ax.set_xlabel('epoch')
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print('learning curves written to', path)

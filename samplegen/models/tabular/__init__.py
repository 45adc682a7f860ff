"""A CTGAN-style conditional GAN for table rows, behind the ``Generator`` interface.

The method is CTGAN's (Xu et al., 2019, "Modeling Tabular Data using Conditional GAN").

Three parts, one module each (the split of the ``ctgan`` library), each vectorised over rows
(no Python loop over rows anywhere):

* :class:`TabularTransformer` (:mod:`.transformer`, with the mixture fit in :mod:`.mixture`)
  encodes a row as ``[continuous scalars | one-hot blocks]``.
  A continuous column is modelled by a one-dimensional variational Gaussian mixture
  (:func:`fit_vgm`); a value becomes the scalar ``(x - mean_k) / (4 std_k)`` clipped to
  [-1, 1] and the one-hot of its mode ``k`` (mode-specific normalisation). A discrete column
  becomes the one-hot of its category. Nulls are categories of their own (see below).
* :class:`ConditionalSampler` (:mod:`.sampler`) implements training-by-sampling: per row a
  discrete column is picked uniformly, a category of it with probability proportional to
  ``log(1 + count)``, and a real row with that category; the generator is given the category
  as a one-hot condition and is penalised (cross-entropy) when it does not produce it.
* :class:`TabularGAN` (:mod:`.synthesizer`): a generator of residual blocks (linear, batch
  norm, ReLU, input concatenated to the output) and a "pac" critic that judges ``pac`` rows at
  once, trained with the WGAN-GP loss (Gulrajani et al., 2017). Outputs are ``tanh`` for
  scalars and Gumbel-softmax (temperature 0.2) for modes and categories.

Differences from the ``ctgan`` library, chosen for speed (same method otherwise):

* The critic step runs the generator under ``no_grad`` (the library backpropagates the critic
  loss through the generator and throws those gradients away); the generator step freezes the
  critic's weights. The critic loss and the gradient penalty share one backward pass.
* Gumbel-softmax and the conditional cross-entropy work on all one-hot blocks at once
  (segment softmax through ``index_add``) instead of one small op chain per column.
* Batches are drawn as integer codes (modes, categories) and continuous scalars and made dense
  on the device; rows of a category are found through one argsort per column, not a Python
  loop per row; the mode of each value is drawn by inverse CDF over all rows at once.
* Sampling draws discrete outputs with the Gumbel-max trick on the logits, which has exactly
  the distribution of the library's ``argmax(gumbel_softmax(logits, tau))``, in eval mode (the
  library samples with batch-norm in training mode). Unconditioned sampling draws conditions
  from the empirical category frequencies (the library uses the log-frequencies there).

Null handling: a null in a discrete column is an explicit extra category (the last slot of
the column's block, flagged by ``has_null`` in :meth:`TabularTransformer.to_params`, its count
last in ``counts``; ``None`` asks for it as a condition) and comes back as a null. A
continuous column with nulls at fit time gets an extra "null" mode after its Gaussian modes:
the row's scalar is 0 and the mode one-hot points at that slot, so the generator learns when a
value is missing jointly with the other columns, and a generated null mode decodes to NaN
(``pd.NA`` for nullable integer dtypes). The library refuses nulls in continuous columns.

Decoding clips continuous values to the range seen at fit time and rounds columns whose
fitted values were all whole numbers; dtypes are restored (ints come back as ints).
"""

from samplegen.models.tabular.mixture import fit_vgm
from samplegen.models.tabular.sampler import ConditionalSampler
from samplegen.models.tabular.synthesizer import TABULAR_SIZES, CTGANTraining, TabularGAN
from samplegen.models.tabular.transformer import STD_MULTIPLIER, TabularTransformer

__all__ = [
    "STD_MULTIPLIER",
    "TABULAR_SIZES",
    "CTGANTraining",
    "ConditionalSampler",
    "TabularGAN",
    "TabularTransformer",
    "fit_vgm",
]

"""The DA-RNN (Qin et al. 2017) written plainly in PyTorch eager: the baseline of bench/darnn.py.

What a PyTorch user would write from the paper: `nn.LSTMCell` in a Python loop over the T
encoder steps (input attention from [h_{t-1}; s_{t-1}] and U_e x^k, the latter computed once),
then over the decoder steps (temporal attention from [d_{t-1}; s'_{t-1}] and U_d h_i, computed
once), ỹ_{t-1} = w̃ᵀ[y_{t-1}; c_{t-1}] + b̃, ŷ_t = v_yᵀ(W_y[d_t; c_t] + b_w) + b_v; MSE and
`torch.optim.Adam`. The same arithmetic as seqattn.models.darnn, PyTorch's initialisation.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class DARNN(nn.Module):
  def __init__(self, n: int, window: int, m: int, p: int, units: int):
    super().__init__()
    self.n, self.window, self.m, self.p = n, window, m, p
    self.W_e = nn.Linear(2 * m, window, bias=False)
    self.U_e = nn.Linear(window, window)
    self.v_e = nn.Linear(window, 1, bias=False)
    self.encoder = nn.LSTMCell(n, m)
    self.W_d = nn.Linear(2 * p, units, bias=False)
    self.U_d = nn.Linear(m, units)
    self.v_d = nn.Linear(units, 1, bias=False)
    self.w_tilde = nn.Linear(1 + m, 1)
    self.decoder = nn.LSTMCell(1, p)
    self.W_y = nn.Linear(p + m, p)
    self.v_y = nn.Linear(p, 1)

  def forward(self, inputs_BxTxK: torch.Tensor, targets_BxH: torch.Tensor) -> torch.Tensor:
    """Teacher-forced ŷ_T..ŷ_{T+H-1}: [B, H]."""
    batch = inputs_BxTxK.shape[0]
    x_BxTxN, y_BxT = inputs_BxTxK[..., :self.n], inputs_BxTxK[..., self.n]
    U_e_x_BxNxT = self.U_e(x_BxTxN.transpose(1, 2))  # once per window
    h = s = x_BxTxN.new_zeros(batch, self.m)
    hs = []
    for t in range(self.window):
      e_BxN = self.v_e(torch.tanh(self.W_e(torch.cat([h, s], -1))[:, None] + U_e_x_BxNxT))[..., 0]
      alpha_BxN = torch.softmax(e_BxN, -1)
      h, s = self.encoder(alpha_BxN * x_BxTxN[:, t], (h, s))
      hs.append(h)
    h_BxTxM = torch.stack(hs, 1)
    keys_BxTxA = self.U_d(h_BxTxM)  # once per window
    d = s_d = x_BxTxN.new_zeros(batch, self.p)
    c = x_BxTxN.new_zeros(batch, self.m)
    decoder_in = torch.cat([y_BxT[:, 1:], targets_BxH[:, :-1]], 1)
    outputs = []
    for t in range(decoder_in.shape[1]):
      l_BxT = self.v_d(torch.tanh(self.W_d(torch.cat([d, s_d], -1))[:, None] + keys_BxTxA))[..., 0]
      beta_BxT = torch.softmax(l_BxT, -1)
      c_new = torch.bmm(beta_BxT[:, None], h_BxTxM)[:, 0]
      y_tilde = self.w_tilde(torch.cat([decoder_in[:, t:t + 1], c], -1))
      d, s_d = self.decoder(y_tilde, (d, s_d))
      c = c_new
      if t >= self.window - 2:
        outputs.append(self.v_y(self.W_y(torch.cat([d, c], -1)))[:, 0])
    return torch.stack(outputs, 1)


class Trainer:
  """Adam with the config's rate and betas; `step(batch)` is one update on the MSE."""

  def __init__(self, config, n: int, seed: int = 0):
    torch.manual_seed(seed)
    m = config.model
    self.model = DARNN(n, config.data.window, m.encoder_units, m.decoder_units,
                       m.attention_units)
    t = config.train
    self.opt = torch.optim.Adam(self.model.parameters(), lr=t.learning_rate, betas=(t.b1, t.b2))

  def step(self, batch: dict[str, np.ndarray]) -> torch.Tensor:
    inputs = torch.from_numpy(batch["inputs"])
    targets = torch.from_numpy(batch["targets"][..., 0])
    loss = F.mse_loss(self.model(inputs, targets), targets)
    self.opt.zero_grad(set_to_none=True)
    loss.backward()
    self.opt.step()
    return loss.detach()

"""The sound event detection model as one bundle: the CRNN stream's front-end, the CRNN (with its encoder unit
and that unit's front-end), and the label encoder that holds the classes, the sample rate and the frame hop.

Training, validation, test and inference reach the network through ``SEDModel``: waveform → ``features`` →
``forward``, so that the path from audio to frame scores is written once.
"""

from __future__ import annotations

import torch
from torch import nn

from desed_task.data.label_encoder import LabelEncoder
from desed_task.features import MelFrontend, SEDFrontend
from desed_task.nnet.crnn import CRNN

Features = tuple[torch.Tensor, torch.Tensor]  # (CRNN stream (B, F_sed, T_sed), encoder stream (B, F_enc, T_enc))


class SEDModel(nn.Module):
    """Front-ends, CRNN and labels of a sound event detector.

    ``encoder_frontend`` is the encoder unit's own front-end unless one is given (inference passes the unit's
    batch-independent variant, see ``batch_independent``). The sample rate and frame hop are the label
    encoder's, which the builder makes from the same configuration values as the front-ends.
    """

    def __init__(
        self,
        network: CRNN,
        sed_frontend: SEDFrontend,
        label_encoder: LabelEncoder,
        encoder_frontend: MelFrontend | None = None,
    ) -> None:
        super().__init__()
        self.network = network
        self.sed_frontend = sed_frontend
        self.label_encoder = label_encoder
        self._encoder_frontend = encoder_frontend

    @property
    def encoder_frontend(self) -> MelFrontend:
        if self._encoder_frontend is not None:
            return self._encoder_frontend
        return self.network.encoder.frontend

    @property
    def classes(self) -> list[str]:
        return list(self.label_encoder.labels)

    @property
    def sample_rate(self) -> int:
        return self.label_encoder.sample_rate

    @property
    def frame_samples(self) -> int:
        """Audio samples per output frame (the CRNN front-end's hop times the network's time pooling)."""
        return self.label_encoder.frame_hop * self.label_encoder.net_pooling

    def batch_independent(self) -> "SEDModel":
        """The same network and labels with front-ends whose features of a clip do not depend on the other clips
        of its batch (inference batches the chunks of one recording)."""
        return SEDModel(self.network, self.sed_frontend, self.label_encoder, self.encoder_frontend.batch_independent())

    def mels(self, audio: torch.Tensor) -> Features:
        """Mel spectrograms of both streams: waveform (B, samples) → (B, F_sed, T_sed), (B, F_enc, T_enc)."""
        return self.sed_frontend.mel(audio), self.encoder_frontend.mel(audio)

    def scaled(self, sed_mel: torch.Tensor, encoder_mel: torch.Tensor) -> Features:
        """Scaled features of both streams from their mel spectrograms (float32)."""
        return self.sed_frontend.scale(sed_mel), self.encoder_frontend.scale(encoder_mel)

    def features(self, audio: torch.Tensor) -> Features:
        """Scaled features of both streams from a waveform (B, samples)."""
        return self.scaled(*self.mels(audio))

    def forward(self, features: Features) -> tuple[torch.Tensor, torch.Tensor]:
        """Features of both streams → strong (B, C, T_out) and weak (B, C) scores."""
        return self.network(*features)

    def scores(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Waveform (B, samples) → strong (B, C, T_out) and weak (B, C) scores."""
        return self(self.features(audio))

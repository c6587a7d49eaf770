"""What the models that read item text share (MoRec, CTRL, RECFORMER): the catalog of item texts with the sentence
encoder that reads them, the InfoNCE loss, and how items enter a model from their text alone (an item nobody bought
yet, another domain's catalog).

The catalog keeps every item's tokens and sentence embedding as buffers, so a saved model scores on its own and can
re-encode its catalog. A frozen encoder's embeddings are computed once; an encoder that trains re-encodes the items a
training step reads (`ItemTextCatalog.encoding`), and the whole catalog after every epoch (`ItemTextCatalog.refresh`,
which the Trainer calls through ``refresh_catalog``).
"""

from __future__ import annotations

import copy
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from ..modeling_aligner import SentenceEncoder


def info_nce(queries: torch.Tensor, keys: torch.Tensor, temperature: float, labels=None) -> torch.Tensor:
    """InfoNCE (van den Oord et al., 2018): the cross-entropy of each query's cosine similarities to every key,
    divided by ``temperature``, against its positive key (key ``i`` for query ``i``, or key ``labels[i]``)."""
    logits = F.normalize(queries, dim=-1) @ F.normalize(keys, dim=-1).T / temperature
    if labels is None:
        labels = torch.arange(len(queries), device=queries.device)
    return F.cross_entropy(logits, labels)


def symmetric_info_nce(first: torch.Tensor, second: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE both ways between paired rows (CLIP, CTRL): the mean of ``first`` against ``second`` and ``second``
    against ``first``."""
    return (info_nce(first, second, temperature) + info_nce(second, first, temperature)) / 2


class ItemTextCatalog(nn.Module):
    """The sentence encoder and every catalog item's text: right-padded tokens ``input_ids``
    ``(num_items + 1, max_text_length)`` with their ``lengths``, and the sentence ``embeddings`` computed from them
    (row 0, padding, is zero). Built from the config only; a model's ``from_sentence_transformer`` copies the
    pre-trained weights in and `set_texts` fills the catalog."""

    def __init__(self, config):
        super().__init__()
        if config.sentence_encoder_config is None:
            raise ValueError(
                f"{type(config).__name__} has no sentence_encoder_config: build the model with "
                "from_sentence_transformer, or load a saved one with AutoModel.from_pretrained"
            )
        self.sentence_encoder = SentenceEncoder(config.sentence_encoder_config, config.sentence_encoder_modules)
        rows = config.num_items + 1
        self.register_buffer("input_ids", torch.zeros(rows, config.max_text_length, dtype=torch.long))
        self.register_buffer("lengths", torch.zeros(rows, dtype=torch.long))
        self.register_buffer("embeddings", torch.zeros(rows, self.sentence_encoder.embedding_size))
        # (item ids, their embeddings with gradients) while a training step reads them; see `encoding`.
        self.live = None

    @property
    def embedding_size(self) -> int:
        return self.sentence_encoder.embedding_size

    @property
    def trains_encoder(self) -> bool:
        return any(parameter.requires_grad for parameter in self.sentence_encoder.parameters())

    def encode(self, input_ids: torch.LongTensor, lengths: torch.LongTensor) -> torch.Tensor:
        """Sentence embeddings of right-padded token rows, trimmed to their longest row."""
        width = max(int(lengths.max()), 1)
        mask = (torch.arange(width, device=input_ids.device)[None, :] < lengths[:, None]).long()
        return self.sentence_encoder(input_ids[:, :width], mask)

    @torch.no_grad()
    def encode_rows(self, input_ids, lengths, batch_size: int = 128) -> torch.Tensor:
        """`encode` for many rows, in eval mode and in batches of similar lengths (longest first, ties in order), in
        the rows' order."""
        was_training = self.sentence_encoder.training
        self.sentence_encoder.eval()
        order = torch.argsort(lengths, descending=True, stable=True)
        outputs = [
            self.encode(input_ids[rows], lengths[rows]).float() for rows in order.split(batch_size) if len(rows)
        ]
        self.sentence_encoder.train(was_training)
        encoded = torch.cat(outputs)
        return encoded[torch.argsort(order)]

    @torch.no_grad()
    def refresh(self, batch_size: int = 128) -> None:
        """Re-encode every catalog item with the current encoder."""
        embeddings = self.encode_rows(self.input_ids, self.lengths, batch_size)
        embeddings[0] = 0
        self.embeddings.copy_(embeddings)

    def set_texts(self, input_ids: torch.LongTensor, lengths: torch.LongTensor) -> None:
        """Store the tokenised catalog (row ``i`` is item ``i``'s text, row 0 the padding's) and encode it."""
        if input_ids.shape != self.input_ids.shape or lengths.shape != self.lengths.shape:
            raise ValueError(
                f"the catalog needs {tuple(self.input_ids.shape)} token ids (num_items + 1 rows of max_text_length) "
                f"and {tuple(self.lengths.shape)} lengths, got {tuple(input_ids.shape)} and {tuple(lengths.shape)}"
            )
        self.input_ids.copy_(input_ids)
        self.lengths.copy_(lengths)
        self.refresh()

    def table(self) -> torch.Tensor:
        """Sentence embeddings of every catalog item, ``(num_items + 1, embedding_size)``: the stored ones, except
        the items of the current `encoding` block, as the encoder computes them now."""
        if self.live is None:
            return self.embeddings
        items, embeddings = self.live
        return self.embeddings.index_copy(0, items, embeddings)

    @contextmanager
    def encoding(self, item_ids: torch.LongTensor):
        """Within this block `table` holds the items of ``item_ids`` re-encoded, with gradients, by the encoder being
        trained: a training step encodes each distinct item it reads once. Nothing changes when the encoder is
        frozen or the model is not training."""
        items = torch.unique(item_ids[item_ids != 0])
        if not (self.training and self.trains_encoder and len(items)):
            yield
            return
        embeddings = self.encode(self.input_ids[items], self.lengths[items])
        self.live = (items, embeddings.to(self.embeddings.dtype))
        try:
            yield
        finally:
            self.live = None


class ItemTextModelMixin:
    """What a model that reads item text adds to the CF backbone interface. The model holds its `ItemTextCatalog` as
    ``text_catalog`` and maps sentence embeddings into the space it scores in with `text_to_items`.

    ``per_item_state`` names (by suffix) the tensors that belong to the catalog's items; `with_catalog` leaves them
    out when it moves the model to another catalog.
    """

    per_item_state: tuple[str, ...] = ("text_catalog.input_ids", "text_catalog.lengths", "text_catalog.embeddings")

    @classmethod
    def from_sentence_transformer(cls, sentence_transformer, **config_kwargs):
        """A new model reading item text with a loaded sentence-transformers model (its weights are copied in).

        ``config_kwargs`` go to the config; ``max_text_length`` is capped by the encoder's own ``max_seq_length``.
        Fill the catalog with `set_catalog` before training or scoring.
        """
        text_config, modules, max_seq_length = SentenceEncoder.describe(sentence_transformer)
        config = cls.config_class(
            sentence_encoder_config=text_config, sentence_encoder_modules=modules, **config_kwargs
        )
        config.max_text_length = min(config.max_text_length, max_seq_length)
        model = cls(config)
        pretrained = SentenceEncoder.from_sentence_transformer(sentence_transformer)
        model.text_catalog.sentence_encoder.load_state_dict(pretrained.state_dict())
        return model

    @property
    def text_catalog(self) -> ItemTextCatalog:
        """The catalog, kept by the item embedding that stands where SASRec keeps its ID table."""
        return self.item_embedding.text_catalog

    def post_init_text(self) -> None:
        """The end of a text model's ``__init__``: `post_init`, then the sentence encoder frozen, or trainable in full or
        in its top layers, as the config says."""
        self.post_init()
        self.text_catalog.sentence_encoder.set_trainable(
            self.config.sentence_encoder_training, self.config.sentence_encoder_trainable_layers
        )

    def text_to_items(self, text_embeddings: torch.Tensor) -> torch.Tensor:
        """Item vectors, in the space ``x_u`` scores (``x_u · v``), of sentence embeddings."""
        raise NotImplementedError

    def set_catalog(self, input_ids: torch.LongTensor, lengths: torch.LongTensor) -> None:
        """Store the tokenised catalog texts (`tokenize_texts` of `catalog_texts`) and encode them."""
        self.text_catalog.set_texts(input_ids, lengths)

    def register_training_items(self, item_ids: torch.LongTensor) -> None:
        """Record the items the training data shows. Models that embed every item from its text need nothing; CTRL
        writes the others from text."""

    def refresh_catalog(self) -> None:
        """What an epoch of training changed in the catalog: it is re-encoded when the sentence encoder trains."""
        if self.text_catalog.trains_encoder:
            self.text_catalog.refresh()

    def train(self, mode: bool = True):
        # A frozen sentence encoder stays in eval mode: dropout would make its embeddings differ from the stored ones.
        super().train(mode)
        if not self.text_catalog.trains_encoder:
            self.text_catalog.sentence_encoder.eval()
        return self

    def item_texts(self, items: list[dict | str]) -> list[str]:
        """Texts of items given as item-table rows (dicts with the fields ``text_template`` reads) or as texts already
        written as the template writes them."""
        needed = set(self.config.text_template_fields) - {"title", "description"}
        texts = []
        for index, item in enumerate(items):
            if isinstance(item, dict):
                missing = sorted(needed - set(item))
                if missing:
                    raise ValueError(
                        f"item {index} lacks {missing}, which text_template {self.config.text_template!r} reads"
                    )
                item = self.config.item_text(item)
            texts.append(item)
        return texts

    def tokenize_texts(self, texts: list[str], tokenizer) -> tuple[torch.LongTensor, torch.LongTensor]:
        """Right-padded ``(len(texts), max_text_length)`` token ids of texts and the real length of each row."""
        encoded = tokenizer(
            texts, truncation=True, max_length=self.config.max_text_length, padding="max_length", return_tensors="pt"
        )
        return encoded["input_ids"], encoded["attention_mask"].sum(1)

    @torch.no_grad()
    def embed_new_items(self, items: list[dict | str], tokenizer) -> torch.Tensor:
        """Item vectors of items from their text alone, ``(len(items), hidden_size)``, scored against a user by
        ``user_representation(history) · v``: how an item the model never saw enters it.

        Args:
            items (`list[dict | str]`): Item-table rows with the fields ``text_template`` reads, or written texts.
            tokenizer: The sentence encoder's tokenizer (saved beside the model).
        """
        input_ids, lengths = self.tokenize_texts(self.item_texts(items), tokenizer)
        was_training = self.training
        self.eval()
        vectors = self.text_to_items(self.text_catalog.encode(input_ids.to(self.device), lengths.to(self.device)))
        self.train(was_training)
        return vectors

    def with_catalog(self, texts: list[str], tokenizer):
        """This model over another catalog, e.g. another domain's in the cross-domain scenario: ``texts[i]`` is item
        ``i``'s text and ``texts[0]`` the padding's (as `catalog_texts` writes them).

        Every weight is kept; what belonged to the old catalog's items (their texts, CTRL's ID rows) is left out, and
        every item of the new catalog enters from its text, in histories and among candidates alike. Returns a new
        model in eval mode.
        """
        config = copy.deepcopy(self.config)
        config.num_items = len(texts) - 1
        model = type(self)(config)
        kept = {name: tensor for name, tensor in self.state_dict().items() if not name.endswith(self.per_item_state)}
        missing, unexpected = model.load_state_dict(kept, strict=False)
        left_out = [name for name in missing if not name.endswith(self.per_item_state)]
        if left_out or unexpected:
            raise ValueError(f"cannot move the model to a new catalog: missing {left_out}, unexpected {unexpected}")
        model.to(self.device)
        model.register_training_items(torch.empty(0, dtype=torch.long))
        model.set_catalog(*model.tokenize_texts(texts, tokenizer))
        return model.eval()

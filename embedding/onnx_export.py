"""Exporting all-MiniLM-L6-v2 to ONNX and quantising it to int8, once per model cache
(embedding.onnx_int8 decides when; this module only does it), and the fixed sentences every start
checks the int8 model's vectors on.

Five feed-forward MatMuls stay float32 (FLOAT_NODES): quantising them costs the most accuracy
(measured one node at a time on 4,364 news sentences); with them in int8 the lowest cosine to
torch on that corpus was 0.966, without them 0.986, for about 30 % more time.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from pathlib import Path
from typing import Any

from embedding.base import ModelIntegrityError

# Bump when anything that shapes the cached files changes (export, quantisation, the stored
# reference): a cache written under another recipe is exported again.
RECIPE = "minilm-l6-int8/1"
OPSET = 17
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAME = "embedding"
# The TorchScript exporter names nodes after module paths; the wrapper module holds the
# transformer as `m`. Export fails loudly if one of these is missing (an exporter that names
# nodes differently), rather than silently quantising them.
FLOAT_NODES = (
    "/m/encoder/layer.0/output/dense/MatMul",
    "/m/encoder/layer.1/output/dense/MatMul",
    "/m/encoder/layer.2/intermediate/dense/MatMul",
    "/m/encoder/layer.2/output/dense/MatMul",
    "/m/encoder/layer.4/intermediate/dense/MatMul",
)

# The fixed quality check: written for this project, varied in topic, length and register; one
# long paragraph (over 256 tokens) checks truncation too.
CHECK_SENTENCES: tuple[str, ...] = (
    "The central bank raised its main interest rate by a quarter point on Thursday.",
    "Flooding closed three highways and left about 40,000 homes without power overnight.",
    "The prime minister said talks with the opposition would resume next week.",
    "Shares in the carmaker fell 7% after it cut its full-year delivery forecast.",
    "Firefighters contained the wildfire after it burned roughly 12,000 hectares of forest.",
    "A spokesperson for the ministry declined to comment on the leaked memo.",
    "The striker scored twice in the second half to send her club into the final.",
    "Scientists reported a new antibiotic candidate that kills drug-resistant bacteria in mice.",
    "Police arrested two men in connection with the robbery of a jewellery shop.",
    "Voters in the northern province rejected the proposed constitutional change.",
    "The company recalled 150,000 space heaters over a risk of overheating.",
    "Negotiators agreed on a temporary ceasefire to allow aid convoys into the city.",
    "Inflation slowed to 2.4 percent in May, the lowest reading in three years.",
    "The museum will return the looted bronze statues to their country of origin.",
    "An earthquake of magnitude 6.1 struck off the coast early on Sunday; no tsunami warning "
    "was issued.",
    "Rescue teams are still searching for five climbers missing on the mountain.",
    "The court ruled that the surveillance programme violated citizens' right to privacy.",
    "Thousands marched through the capital to demand higher wages for nurses.",
    "The airline cancelled more than 300 flights as pilots walked out over pay.",
    "Officials confirmed the first case of bird flu on a dairy farm in the region.",
    "The new stadium, which seats 60,000 people, cost twice its original budget.",
    "He resigned hours after the newspaper published the recordings.",
    "Oil prices climbed above $90 a barrel after producers announced deeper output cuts.",
    "The opposition leader called the budget 'a gift to the wealthy'.",
    "Researchers warned that the glacier could lose half its volume by the end of the century.",
    "The ferry ran aground in heavy fog, but all 212 passengers were evacuated safely.",
    "Lawmakers passed a bill requiring social media platforms to verify users' ages.",
    "The film won the top prize at the festival on Saturday night.",
    "Why did the government wait so long to act?",
    "Critics say the plan does little to address the housing shortage.",
    "Schools will remain closed on Monday because of the storm.",
    "The two leaders spoke by phone for the first time since the border dispute began.",
    "According to the report, unemployment among young people rose for the fourth month in a row.",
    "The chip maker said it would build a $20 billion factory near the river port.",
    "Health authorities urged residents to boil tap water until further notice.",
    "A jury found the former mayor guilty of bribery and money laundering.",
    "The satellite was launched successfully and reached its planned orbit.",
    "Farmers blocked roads with tractors to protest against cheap imports.",
    "The festival was postponed.",
    "Die Regierung kündigte am Mittwoch neue Hilfen für Familien mit kleinen Kindern an.",
    "Le président a annoncé un remaniement du gouvernement après les élections régionales.",
    "Witnesses described hearing two loud explosions shortly before midnight.",
    "The union and the employers' group reached a deal that ends a six-week strike.",
    "Sales of electric vehicles doubled in the first quarter compared with a year earlier.",
    "The hospital said the patient was in stable condition after surgery.",
    "The bridge, closed since the collapse in March, is expected to reopen in the autumn.",
    "Investigators have not ruled out sabotage as the cause of the pipeline leak.",
    "Tickets sold out within minutes, and resale prices soared to ten times face value.",
    "Breaking: parliament dissolved, elections called for 14 September",
    " ".join(
        [
            "The city council met late into the night to debate the transport plan, which would "
            "close the old town to private cars, add bus lanes on the ring road, and raise "
            "parking fees near the station.",
            "Shop owners warned that fewer cars would mean fewer customers, while residents' "
            "groups said cleaner air and quieter streets were long overdue.",
        ]
        * 4
    ),
)


def check_sentences_sha256() -> str:
    return hashlib.sha256("\n".join(CHECK_SENTENCES).encode()).hexdigest()


def export_fp32(model_dir: Path, target: Path) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    class Pooled(torch.nn.Module):
        """The transformer, mean pooling over the attention mask and L2 normalisation, as
        sentence-transformers' modules.json for this model chains them."""

        def __init__(self, model: torch.nn.Module):
            super().__init__()
            self.m = model

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            token_type_ids: torch.Tensor,
        ) -> torch.Tensor:
            hidden = self.m(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    tokenizer: Any = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    # Eager attention traces to plain MatMul/Softmax, which onnxruntime fuses and quantises.
    model = AutoModel.from_pretrained(
        str(model_dir), local_files_only=True, attn_implementation="eager"
    )
    model.eval()
    sample = tokenizer(
        ["A short one.", "A somewhat longer sample sentence for the exporter to trace."],
        padding=True,
        return_tensors="pt",
    )
    dynamic = {name: {0: "batch", 1: "tokens"} for name in INPUT_NAMES}
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter is deprecated (it says so) but needs no extra packages; the
        # tracer's warnings concern shape checks that hold for every batch (tested).
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Pooled(model),
            tuple(sample[name] for name in INPUT_NAMES),
            str(target),
            input_names=list(INPUT_NAMES),
            output_names=[OUTPUT_NAME],
            dynamic_axes={**dynamic, OUTPUT_NAME: {0: "batch"}},
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )


class _DropPreprocessHint(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


def quantise(source: Path, target: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    names = {node.name for node in onnx.load(str(source), load_external_data=False).graph.node}
    missing = [name for name in FLOAT_NODES if name not in names]
    if missing:
        raise ModelIntegrityError(
            f"the exported graph lacks the nodes kept in float32 ({', '.join(missing)}): "
            "the exporter names nodes differently; update FLOAT_NODES and RECIPE"
        )
    hint = _DropPreprocessHint()
    logging.getLogger().addFilter(hint)
    try:
        quantize_dynamic(
            source,
            target,
            weight_type=QuantType.QInt8,
            per_channel=True,
            nodes_to_exclude=list(FLOAT_NODES),
            extra_options={"MatMulConstBOnly": True},  # weights only; Q·K and attention·V stay
        )
    finally:
        logging.getLogger().removeFilter(hint)


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("torch", "transformers", "onnx", "onnxruntime"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:  # pragma: no cover
            found[package] = "?"
    return found

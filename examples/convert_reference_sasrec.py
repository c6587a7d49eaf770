"""Convert a SASRec checkpoint of the A-LLMRec reference code (a pickled [args, state_dict]) to safetensors.

    python examples/convert_reference_sasrec.py --checkpoint SASRec.epoch=200.pth --output_dir sasrec --allow_unpickle

Without --allow_unpickle the script refuses: the input is a pickle. With it, the file is read by torch's restricted
weights_only unpickler (tensors, containers and argparse.Namespace only). The output loads with
AutoModel.from_pretrained and never unpickles again.
"""

from dataclasses import dataclass, field

from allmrec_hf.backbones.convert_reference_sasrec import UnpickleRefused, convert_reference_sasrec
from allmrec_hf.commands.cli import parse_script_arguments, setup_logging


@dataclass
class ConversionArguments:
    checkpoint: str = field(default=None, metadata={"help": "The reference's .pth file."})
    output_dir: str = field(default=None, metadata={"help": "Folder for config.json + model.safetensors."})
    allow_unpickle: bool = field(
        default=False, metadata={"help": "I trust this file: read it with torch's restricted unpickler."}
    )


def main(argv=None):
    setup_logging()
    (args,) = parse_script_arguments((ConversionArguments,), (), argv)
    if not args.checkpoint or not args.output_dir:
        raise SystemExit("--checkpoint and --output_dir are required")
    try:
        model = convert_reference_sasrec(args.checkpoint, allow_unpickle=args.allow_unpickle)
    except UnpickleRefused as error:
        raise SystemExit(str(error)) from error
    model.save_pretrained(args.output_dir)
    print(f"{args.output_dir}: SASRec with {model.config.num_items} items, hidden size {model.config.hidden_size}")


if __name__ == "__main__":
    from allmrec_hf.commands.cli import run_script

    run_script(main)

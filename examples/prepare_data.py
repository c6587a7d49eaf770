"""Prepare a dataset: raw log -> DatasetDict with leave-one-out splits, stored candidates and scenarios.

    python examples/prepare_data.py --source generic --data_dir ../shared/data/amazon_beauty_2014 --output_dir data/beauty
    python examples/prepare_data.py --config hub_configs/sample.json --output_dir data/sample
    python examples/prepare_data.py --source amazon2018 --reviews_file Luxury_Beauty.json.gz \
        --meta_file meta_Luxury_Beauty.json.gz --min_user_interactions 4 --min_item_interactions 4 --output_dir data/lux
"""

from dataclasses import dataclass, field

from allmrec_hf.commands.cli import parse_script_arguments, run_script, setup_logging
from allmrec_hf.data import DataArguments, prepare_dataset


@dataclass
class OutputArguments:
    output_dir: str = field(default=None, metadata={"help": "Folder to write the prepared dataset to."})
    push_to_hub: str | None = field(default=None, metadata={"help": "Also upload to this Hub dataset repository."})


def main(argv=None):
    setup_logging()
    data_args, output_args = parse_script_arguments((DataArguments, OutputArguments), ("data",), argv)
    if not output_args.output_dir:
        raise ValueError("--output_dir is required")
    dataset = prepare_dataset(data_args)
    dataset.save(output_args.output_dir)
    if output_args.push_to_hub:
        dataset.push_to_hub(output_args.push_to_hub)
    report = dataset.report
    print(
        f"{output_args.output_dir}: {report['num_users']} users, {report['num_items']} items, "
        f"{report['num_interactions']} interactions (avg. length {report['avg_seq_len']}); splits {report['splits']}"
    )


if __name__ == "__main__":
    run_script(main)

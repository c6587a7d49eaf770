"""Paired Hit@1 differences on cold and on warm targets: `tables.paired_difference` over the users whose test target
is in each popularity group of the prepared dataset, for rows scored before the per-user records held each user's
target group (rows scored since then are paired by group in results/tables.py from their JSON alone).

    python results/paired_by_group.py runs/real-llm/beauty/data beauty allmrec-ranking+text-conditioned-items \
        sasrec retrained/sasrec retrained/sasrec-rerun
"""

import argparse

from tables import HERE, paired_difference

from allmrec_hf.data import PreparedDataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", help="the prepared dataset the rows were scored on")
    parser.add_argument("dataset", help="the folder of results/ holding the rows")
    parser.add_argument("row")
    parser.add_argument("baselines", nargs="+")
    parser.add_argument("--split", default="test")
    args = parser.parse_args()
    dataset = PreparedDataset.load(args.data_dir)
    rows = dataset.sample_rows(args.split)
    group_of = {user: dataset.popularity[target] for user, target in zip(rows["user_id"], rows["target"])}
    for group in ("cold", "warm"):
        users = {user for user, name in group_of.items() if name == group}
        for baseline in args.baselines:
            print(f"{group}: {paired_difference(HERE / args.dataset, args.row, baseline, users)}")


if __name__ == "__main__":
    main()

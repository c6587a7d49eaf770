"""A deterministic synthetic shop, small enough for tests and the quickstart, in which text carries signal.

Items belong to latent categories; every category has its own products, brands and vocabulary, so titles and
descriptions of one category share words. Within a category, products follow a habitual order (a tent, then a
sleeping bag, then a lantern...). Users like one to three categories; each next purchase is usually the habitual next
product or another product of a liked category, chosen by popularity (a long tail, so some items are cold), and
sometimes a random item. A share of users stop after exactly three purchases, which gives the cold-user scenario
something to hold out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .raw import RawInteractions, interaction_frame


CATEGORIES = {
    "Camping": (
        ["tent", "sleeping bag", "camping lantern", "camp stove", "hiking backpack", "water filter", "trekking poles"],
        ["waterproof", "lightweight", "rugged", "insulated", "compact"],
        ["trail", "outdoor", "campsite", "wilderness", "backpacking", "weatherproof"],
        ["Trailmark", "Summit Ridge", "Pinecrest"],
    ),
    "Kitchen": (
        ["chef knife", "cutting board", "cast iron skillet", "saucepan", "mixing bowl", "blender", "measuring cups"],
        ["stainless steel", "nonstick", "ergonomic", "dishwasher-safe", "heavy-duty"],
        ["cooking", "recipes", "meal prep", "baking", "home chef", "dinner"],
        ["Copperline", "HomeChef", "Saltbridge"],
    ),
    "Skincare": (
        ["facial cleanser", "toner", "vitamin c serum", "moisturizer", "sunscreen", "eye cream", "lip balm"],
        ["hydrating", "fragrance-free", "gentle", "brightening", "organic"],
        ["skin", "complexion", "dermatologist tested", "pores", "glow", "sensitive skin"],
        ["Dewleaf", "Lumiere", "PureBloom"],
    ),
    "Board Games": (
        ["strategy board game", "card game expansion", "dice set", "card sleeves", "game organizer", "puzzle"],
        ["cooperative", "family-friendly", "deluxe", "two-player", "collectible"],
        ["players", "game night", "tabletop", "strategy", "turns", "party"],
        ["Meeple Forge", "Rollhouse", "Tabletop Co"],
    ),
    "Gardening": (
        ["seed starter kit", "potting soil", "pruning shears", "garden hose", "raised garden bed", "watering can"],
        ["organic", "heavy-duty", "expandable", "rust-resistant", "eco-friendly"],
        ["garden", "plants", "vegetables", "backyard", "flowers", "soil"],
        ["GreenThumb", "Rootwise", "Bloomfield"],
    ),
    "Photography": (
        ["camera tripod", "lens filter", "memory card", "camera bag", "lens cleaning kit", "ring light"],
        ["professional", "portable", "carbon fiber", "high-speed", "weather-sealed"],
        ["camera", "photos", "lens", "shooting", "photographers", "portrait"],
        ["Aperture Pro", "Shutterline", "Focalis"],
    ),
    "Coffee": (
        ["coffee grinder", "pour-over dripper", "paper filters", "gooseneck kettle", "espresso beans", "travel mug"],
        ["burr", "precision", "single-origin", "insulated", "barista-grade"],
        ["coffee", "brewing", "espresso", "roast", "morning cup", "aroma"],
        ["Beanworks", "Roastery Lane", "Crema Co"],
    ),
    "Cycling": (
        ["bike helmet", "bike lights", "cycling gloves", "bike lock", "tire pump", "water bottle cage"],
        ["aerodynamic", "reflective", "padded", "lightweight", "rechargeable"],
        ["cycling", "bike", "road", "commute", "riders", "mountain trails"],
        ["Velocity", "Spokeworks", "Pedalon"],
    ),
}


@dataclass
class SyntheticShop:
    """Settings of the synthetic generator; the same settings always give the same data.

    Args:
        num_users (`int`, *optional*, defaults to 600): Users to generate.
        items_per_category (`int`, *optional*, defaults to 30): Items in each of the eight categories.
        min_length / max_length (`int`): Range of sequence lengths for ordinary users.
        short_user_share (`float`, *optional*, defaults to 0.08): Users with exactly three interactions.
        habit_probability (`float`, *optional*, defaults to 0.55): Chance the next item is the habitual next product.
        noise_probability (`float`, *optional*, defaults to 0.1): Chance the next item is any item at all.
        seed (`int`, *optional*, defaults to 0): Seed of every draw.
    """

    num_users: int = 600
    items_per_category: int = 30
    min_length: int = 5
    max_length: int = 16
    short_user_share: float = 0.08
    habit_probability: float = 0.55
    noise_probability: float = 0.1
    seed: int = 0

    def catalog(self, rng: np.random.Generator) -> pd.DataFrame:
        rows = []
        for category, (products, adjectives, words, brands) in CATEGORIES.items():
            for index in range(self.items_per_category):
                product = products[index % len(products)]
                brand = brands[rng.integers(len(brands))]
                adjective = adjectives[rng.integers(len(adjectives))]
                picked = rng.choice(len(words), size=2, replace=False)
                model = f"{chr(65 + index // len(products))}{rng.integers(100, 999)}"
                rows.append(
                    {
                        "item_id": f"{category[:3].upper()}-{index:03d}",
                        "title": f"{brand} {adjective.title()} {product.title()} {model}",
                        "description": (
                            f"{'An' if adjective[0] in 'aeiou' else 'A'} {adjective} {product} for {words[picked[0]]} and {words[picked[1]]}. "
                            f"Made by {brand} for {category.lower()} enthusiasts."
                        ),
                        "brand": brand,
                        "categories": f"{category}, {product.title()}",
                        "category": category,
                        "step": products.index(product),
                    }
                )
        catalog = pd.DataFrame(rows)
        # A long-tailed popularity within each category leaves some items with very few interactions.
        catalog["popularity"] = rng.zipf(1.6, size=len(catalog)).clip(max=50).astype(float)
        return catalog

    def generate(self) -> RawInteractions:
        rng = np.random.default_rng(self.seed)
        catalog = self.catalog(rng)
        categories = list(CATEGORIES)
        by_category = {name: np.flatnonzero(catalog["category"].to_numpy() == name) for name in categories}
        steps = catalog["step"].to_numpy()
        popularity = catalog["popularity"].to_numpy()

        def pick(pool: np.ndarray) -> int:
            weights = popularity[pool] / popularity[pool].sum()
            return int(pool[rng.choice(len(pool), p=weights)])

        users, items, positions, ratings = [], [], [], []
        for user in range(self.num_users):
            liked = rng.choice(len(categories), size=rng.integers(1, 4), replace=False)
            preference = rng.dirichlet(np.ones(len(liked)))
            short = rng.random() < self.short_user_share
            length = 3 if short else int(rng.integers(self.min_length, self.max_length + 1))
            sequence: list[int] = []
            while len(sequence) < length:
                category = categories[liked[rng.choice(len(liked), p=preference)]]
                pool = by_category[category]
                draw = rng.random()
                if sequence and draw < self.habit_probability:
                    previous = sequence[-1]
                    same = by_category[catalog.at[previous, "category"]]
                    following = same[steps[same] == (steps[previous] + 1) % (steps[same].max() + 1)]
                    item = pick(following if len(following) else same)
                elif draw > 1 - self.noise_probability:
                    item = int(rng.integers(len(catalog)))
                else:
                    item = pick(pool)
                if item not in sequence:
                    sequence.append(item)
            for position, item in enumerate(sequence):
                users.append(f"user_{user:04d}")
                items.append(catalog.at[item, "item_id"])
                positions.append(position)
                ratings.append(float(rng.choice([5, 5, 4, 4, 3, 2])))
        text_columns = ["title", "description", "brand", "categories"]
        texts = {row["item_id"]: {name: row[name] for name in text_columns} for row in catalog.to_dict("records")}
        used = set(items)
        return RawInteractions(
            interactions=interaction_frame(users, items, positions, ratings),
            items={item: text for item, text in texts.items() if item in used},
            source="synthetic",
            has_ratings=True,
        )

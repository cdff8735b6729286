"""Realistic names for generated customers: apostrophes, ampersands and non-ASCII on purpose,
since those are what break query escaping and URL encoding (qbo-reference §3)."""

from __future__ import annotations

import random

FIRST = ["Amy", "José", "Zoë", "Łukasz", "Siobhán", "Björn", "Chloé", "Renée", "François", "Ángel", "Mårten",
         "Dmitri", "Aoife", "Seán", "Noémie", "Hiroshi", "Priya", "Kwame", "Olga", "Ingrid", "Tomás", "Mia", "Liam",
         "Sofia", "Mateo", "Emma", "Noah", "Ava", "Lucas", "Isabella", "Ethan", "Chen", "Fatima", "Yusuf", "Ana",
         "Pedro", "Grace", "Travis", "Sasha", "Dylan"]
LAST = ["O'Brien", "D'Angelo", "Müller", "Nuñez", "García", "Østergaard", "Smith", "Johnson", "Williams", "Brown",
        "Jones", "O'Neil", "McDonald", "Schröder", "Łukasiewicz", "Dvořák", "Nakamura", "Kowalski", "Fernández",
        "Bergström", "Lefèvre", "Novák", "Patel", "Nguyen", "Kim", "Rossi", "Janssen", "Hansen", "Černý", "Andrés",
        "Lauterbach", "Waldron", "Tillou", "Sollfrank", "Pariente"]
WORDS = ["Blue Sky", "Northwind", "Acme", "Évora", "Zürich", "Summit", "Pioneer", "Harbor", "Maple", "Redwood",
         "Golden Gate", "Bayside", "Cedar", "Granite", "Orchard", "Kōbe", "São Paulo", "Crème", "Fjord", "Señor"]
PATTERNS = ["{last} & Sons", "{last} & {last2} LLP", "{last}'s Bird Sanctuary", "Café {last}", "{word} & {word2} Co.",
            "{last} Consulting", "{word} Technologies", "{first}'s Bakery", "{word} IT Services", "{word} Networks",
            "{last} Managed Services", "{word} Medical Supplies", "The {word} Group", "{first} {last} CPA",
            "100% {word}", "{word} (West) Ltd."]


def person_name(rng: random.Random) -> tuple[str, str]:
    return rng.choice(FIRST), rng.choice(LAST)


def company_name(rng: random.Random) -> str:
    return rng.choice(PATTERNS).format(first=rng.choice(FIRST), last=rng.choice(LAST), last2=rng.choice(LAST),
                                       word=rng.choice(WORDS), word2=rng.choice(WORDS))

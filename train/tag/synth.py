"""Seeded sentences with PER / ORG / LOC / MISC entities, from hand-written templates and name
lists written for this project (CC0): ``synth:entities`` for larger runs, and the generator of
the shipped file ``data/ner-cc0.conll`` (``cc0:ner``).

>>> s = entity_sentences(2, seed=3)
>>> len(s), all(len(x.tokens) == len(x.tags) for x in s)
(2, True)
"""

from __future__ import annotations

import random

from edgernn.train.tag.conll import Sentence

PER = [
    "Angela Merkel",
    "Maria Schmidt",
    "John Carter",
    "Aisha Bello",
    "Wei Zhang",
    "Carlos Mendoza",
    "Priya Nair",
    "Olga Petrova",
    "Kenji Watanabe",
    "Fatima Al-Sayed",
    "Lukas Novak",
    "Emma Dubois",
    "Jordan",
    "Sofia Rossi",
    "Tom Becker",
    "Ines Garcia",
    "Ahmed Karim",
    "Hannah Fischer",
    "Pierre Laurent",
    "Yuki Tanaka",
    "Samuel Okafor",
    "Anna Kowalska",
    "Lars Eriksen",
    "Mei Lin",
    "Diego Alvarez",
    "Clara Weber",
    "Ivan Horvat",
    "Grace Mensah",
    "Robert",
    "Elena",
    "Mr. Brown",
    "Dr. Amara Diallo",
    "Paul van Dijk",
    "Nora O'Neill",
    "Raj Patel",
    "Sven Lindqvist",
]
ORG = [
    "Siemens",
    "the United Nations",
    "Reuters",
    "Nordwind Energy",
    "the World Health Organization",
    "Toyota",
    "Red Cross",
    "Bayern Munich",
    "Greenfield Bank",
    "Apex Robotics",
    "the European Commission",
    "UNESCO",
    "Harbor Logistics",
    "Sunrise Foods",
    "the Central Bank",
    "Atlas Airlines",
    "NATO",
    "BlueWave Media",
    "the University of Lagos",
    "Vienna Philharmonic",
    "Northstar Mining",
    "Real Madrid",
    "Interpol",
    "Kestrel Systems",
    "the Ministry of Health",
    "Amnesty International",
    "Oakridge Hospital",
]
LOC = [
    "Paris",
    "Berlin",
    "Nairobi",
    "Tokyo",
    "New York",
    "Lake Victoria",
    "the Alps",
    "Buenos Aires",
    "Mumbai",
    "Oslo",
    "Cairo",
    "the Rhine",
    "Jordan",
    "Kyoto",
    "Lisbon",
    "Texas",
    "Bavaria",
    "Sao Paulo",
    "the Pacific",
    "Mount Kenya",
    "Vancouver",
    "Seoul",
    "Gdansk",
    "Marseille",
    "the Sahara",
    "Hamburg",
    "Washington",
    "Lima",
    "Accra",
    "Helsinki",
]
MISC = [
    "German",
    "French",
    "Olympic Games",
    "World Cup",
    "Nobel Prize",
    "Japanese",
    "Brazilian",
    "Euro",
    "Christmas",
    "Ramadan",
    "Kenyan",
    "Tour de France",
    "English",
    "Spanish",
    "Oscars",
    "Grand Prix",
    "Swedish",
    "Nigerian",
    "Champions League",
    "Italian",
    "Wimbledon",
    "Buddhist",
    "Paralympics",
]
DAY = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTH = ["January", "March", "May", "July", "September", "November", "April", "June"]
TEMPLATES = (
    "{PER} visited {LOC} on {DAY} .",
    "{PER} , a spokesman for {ORG} , said the talks would resume in {MONTH} .",
    "{ORG} shares rose {NUM} percent in {LOC} trading .",
    "The {MISC} delegation arrived in {LOC} late on {DAY} .",
    "{PER} won the {MISC} after a long final against {PER} .",
    "Officials at {ORG} in {LOC} declined to comment .",
    "{PER} told {ORG} that prices in {LOC} had doubled .",
    "Heavy rain closed roads near {LOC} , police said .",
    "{ORG} will open a new office in {LOC} next year .",
    "The match between {ORG} and {ORG} ended {NUM} - {NUM} .",
    "{PER} , who joined {ORG} in {MONTH} , leaves on {DAY} .",
    "Thousands gathered in {LOC} to celebrate {MISC} .",
    "According to {ORG} , exports from {LOC} fell sharply .",
    "{PER} said the {MISC} team was ready .",
    "A {MISC} court in {LOC} fined {ORG} {NUM} million euros .",
    "The flight from {LOC} to {LOC} was delayed by {NUM} hours .",
    "{PER} and {PER} met in {LOC} to discuss the merger .",
    "Prices were stable on {DAY} , traders said .",
    "{ORG} appointed {PER} as chief executive .",
    "Fans of {ORG} travelled to {LOC} for the {MISC} .",
    "In {MONTH} , {PER} published a report on water quality in {LOC} .",
    "The {MISC} minister thanked {ORG} for its support .",
    "{LOC} beat {LOC} {NUM} - {NUM} in the {MISC} qualifier .",
    "Nobody was hurt , a spokeswoman for {ORG} said .",
    "{PER} lives in {LOC} with her two children .",
    "Last {DAY} , {ORG} recalled {NUM} thousand cars .",
    "The report by {ORG} was presented in {LOC} .",
    "{PER} scored twice as {ORG} beat {ORG} .",
    "Snow fell across {LOC} for the first time since {MONTH} .",
    "{ORG} and {ORG} signed a deal worth {NUM} million dollars .",
    "Critics said {PER} had misled {ORG} .",
    "Tourists from {LOC} flocked to {LOC} during {MISC} .",
    "The {MISC} film opened in {LOC} on {DAY} .",
    "{PER} , born in {LOC} , studied at {ORG} .",
    "Trading was thin ahead of the {MISC} holiday .",
    "Rescue teams from {ORG} reached {LOC} on {DAY} night .",
    "{PER} denied the claims in an interview with {ORG} .",
    "Water levels in {LOC} rose by {NUM} centimetres .",
    "The {MISC} striker signed for {ORG} in {MONTH} .",
    "We will not give up , {PER} said in {LOC} .",
    "Inflation in {LOC} reached {NUM} percent in {MONTH} .",
    "{ORG} said on {DAY} it had hired {NUM} engineers .",
)
FILLERS = {"DAY": DAY, "MONTH": MONTH, "NUM": [str(n) for n in (2, 3, 5, 7, 12, 40, 150, 2024)]}
ENTITIES = {"PER": PER, "ORG": ORG, "LOC": LOC, "MISC": MISC}


SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ra",
    "ben",
    "tor",
    "sa",
    "vi",
    "nu",
    "del",
    "mar",
    "ish",
    "go",
    "ren",
    "ta",
    "ul",
    "zo",
    "fen",
    "bri",
    "an",
]
SUFFIXES = {
    "LOC": ("burg", "ville", "stad", "ford", "abad", "pur"),
    "ORG": (" Group", " Systems", " Bank", " Motors", " Institute", " Labs"),
}


def invented(kind: str, rng: random.Random) -> str:
    """A name that is on no list: unseen words whose shape and affixes still tell the type.

    >>> invented("LOC", random.Random(0)).endswith(SUFFIXES["LOC"])
    True
    """

    def word(parts: int) -> str:
        return "".join(rng.choice(SYLLABLES) for _ in range(parts)).capitalize()

    if kind == "PER":
        return f"{word(2)} {word(rng.choice((2, 3)))}"
    if kind in SUFFIXES:
        return word(2) + rng.choice(SUFFIXES[kind])
    return word(2) + "ian"  # MISC: a made-up nationality


def entity_sentences(n: int, seed: int = 0, new_names: float = 0.25) -> list[Sentence]:
    """``n`` seeded sentences: templates filled with names (multi-word names tagged B- then
    I-; a leading "the" of an organisation or place stays outside the entity, as in CoNLL);
    a ``new_names`` share of the names is invented (``invented``)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        tokens: list[str] = []
        tags: list[str] = []
        for word in rng.choice(TEMPLATES).split():
            slot = word[1:-1] if word.startswith("{") and word.endswith("}") else ""
            if slot in ENTITIES:
                name = rng.choice(ENTITIES[slot])
                if rng.random() < new_names:
                    name = invented(slot, rng)
                words = name.split()
                if words[0] == "the":
                    the = "The" if not tokens else "the"
                    tokens.append(the)
                    tags.append("O")
                    words = words[1:]
                tokens += words
                tags += [f"B-{slot}"] + [f"I-{slot}"] * (len(words) - 1)
            else:
                tokens.append(rng.choice(FILLERS[slot]) if slot else word)
                tags.append("O")
        out.append(Sentence(tokens, tags))
    return out


SHIPPED_SEED, SHIPPED_SENTENCES = 2026, 400  # how data/ner-cc0.conll was written


if __name__ == "__main__":  # python -m edgernn.train.tag.synth rewrites the shipped file
    from pathlib import Path

    from edgernn.train.tag.conll import write_conll

    shipped = Path(__file__).parent / "data" / "ner-cc0.conll"
    write_conll(entity_sentences(SHIPPED_SENTENCES, seed=SHIPPED_SEED), shipped)
    print(shipped)

"""Name and address tables of the ``faker_us`` generator, and its keyboard-typo model.

Written from general knowledge of US naming and addressing practice:

* :data:`NICKNAMES`: 120 common US given names and the short forms that people give,
  or that clerks write, instead of them (William -> Bill, Will, Billy, Liam ...).
* :data:`SIMILAR_TWIN_NAMES`: pairs of similar given names that parents give twins
  (Jayden / Jaden, Kaitlyn / Caitlin ...).
* :data:`HISPANIC_SURNAMES`: surnames that form the two-part surnames ("Garcia Lopez") of
  the population's Hispanic double-surname families.
* :data:`USPS_SUFFIXES`: the USPS Publication 28 abbreviations of street suffixes, which
  address-verified systems (police CAD, hospital registration) write instead of the word.
"""

from __future__ import annotations

import random
from typing import Final

__all__ = [
    "HISPANIC_SURNAMES",
    "NICKNAMES",
    "SIMILAR_TWIN_NAMES",
    "USPS_SUFFIXES",
    "keyboard_typo",
]

NICKNAMES: Final[dict[str, tuple[str, ...]]] = {
    # male
    "Albert": ("Al", "Bert"),
    "Alexander": ("Alex", "Xander", "Al"),
    "Alan": ("Al",),
    "Andrew": ("Andy", "Drew"),
    "Anthony": ("Tony",),
    "Benjamin": ("Ben", "Benny"),
    "Bradley": ("Brad",),
    "Cameron": ("Cam",),
    "Charles": ("Charlie", "Chuck", "Chas"),
    "Christopher": ("Chris", "Topher"),
    "Daniel": ("Dan", "Danny"),
    "David": ("Dave", "Davey"),
    "Dennis": ("Denny",),
    "Donald": ("Don", "Donnie"),
    "Douglas": ("Doug",),
    "Edward": ("Ed", "Eddie", "Ted"),
    "Eugene": ("Gene",),
    "Francis": ("Frank",),
    "Frederick": ("Fred", "Freddie"),
    "Gabriel": ("Gabe",),
    "Gary": ("Gar",),
    "Gerald": ("Jerry", "Gerry"),
    "Gregory": ("Greg",),
    "Harold": ("Hal", "Harry"),
    "Henry": ("Hank", "Harry"),
    "Jacob": ("Jake",),
    "James": ("Jim", "Jimmy", "Jamie"),
    "Jeffrey": ("Jeff",),
    "Jeremy": ("Jerry",),
    "Jerome": ("Jerry",),
    "Joel": ("Joe",),
    "John": ("Johnny", "Jack"),
    "Johnny": ("John",),
    "Jonathan": ("Jon", "Jonny"),
    "Joseph": ("Joe", "Joey"),
    "Joshua": ("Josh",),
    "Kenneth": ("Ken", "Kenny"),
    "Lawrence": ("Larry",),
    "Leonard": ("Len", "Lenny"),
    "Matthew": ("Matt",),
    "Maxwell": ("Max",),
    "Michael": ("Mike", "Mikey"),
    "Mitchell": ("Mitch",),
    "Nathan": ("Nate",),
    "Nathaniel": ("Nate", "Nat"),
    "Nicholas": ("Nick", "Nicky"),
    "Patrick": ("Pat", "Paddy"),
    "Peter": ("Pete",),
    "Philip": ("Phil",),
    "Phillip": ("Phil",),
    "Randall": ("Randy",),
    "Raymond": ("Ray",),
    "Richard": ("Rick", "Rich", "Dick", "Ricky"),
    "Robert": ("Bob", "Rob", "Bobby", "Robbie"),
    "Ronald": ("Ron", "Ronnie"),
    "Russell": ("Russ",),
    "Samuel": ("Sam", "Sammy"),
    "Stephen": ("Steve",),
    "Steven": ("Steve",),
    "Terrence": ("Terry",),
    "Theodore": ("Ted", "Teddy", "Theo"),
    "Thomas": ("Tom", "Tommy"),
    "Timothy": ("Tim", "Timmy"),
    "Vincent": ("Vince", "Vinny"),
    "Walter": ("Walt", "Wally"),
    "William": ("Bill", "Will", "Billy", "Liam"),
    "Zachary": ("Zach", "Zack"),
    # female
    "Abigail": ("Abby",),
    "Alexandra": ("Alex", "Lexi"),
    "Allison": ("Ally", "Allie"),
    "Amanda": ("Mandy",),
    "Andrea": ("Andi",),
    "Angela": ("Angie",),
    "Ashley": ("Ash",),
    "Barbara": ("Barb", "Babs"),
    "Brittany": ("Britt",),
    "Caroline": ("Carrie",),
    "Cassandra": ("Cassie",),
    "Catherine": ("Cathy", "Cate", "Katie"),
    "Christina": ("Chris", "Tina"),
    "Christine": ("Chris", "Chrissy"),
    "Cynthia": ("Cindy",),
    "Danielle": ("Dani",),
    "Deborah": ("Debbie", "Deb"),
    "Dorothy": ("Dot", "Dottie"),
    "Elizabeth": ("Liz", "Beth", "Betty", "Lizzie", "Eliza"),
    "Frances": ("Fran",),
    "Gwendolyn": ("Gwen",),
    "Jacqueline": ("Jackie",),
    "Janet": ("Jan",),
    "Jennifer": ("Jen", "Jenny"),
    "Jessica": ("Jess", "Jessie"),
    "Judith": ("Judy",),
    "Katherine": ("Kate", "Katie", "Kathy"),
    "Kathleen": ("Kathy", "Kate"),
    "Katrina": ("Trina", "Kat"),
    "Kimberly": ("Kim",),
    "Kristina": ("Kris", "Tina"),
    "Madison": ("Maddie",),
    "Margaret": ("Maggie", "Peggy", "Meg"),
    "Melanie": ("Mel",),
    "Melissa": ("Missy", "Mel"),
    "Michelle": ("Shelly",),
    "Natalie": ("Nat",),
    "Nicole": ("Nikki", "Nicki"),
    "Pamela": ("Pam",),
    "Patricia": ("Patty", "Pat", "Trish"),
    "Rebecca": ("Becky", "Becca"),
    "Samantha": ("Sam", "Sammy"),
    "Sandra": ("Sandy",),
    "Stephanie": ("Steph",),
    "Susan": ("Sue", "Susie"),
    "Suzanne": ("Sue",),
    "Teresa": ("Terry", "Tess"),
    "Theresa": ("Terry", "Tess"),
    "Tiffany": ("Tiff",),
    "Valerie": ("Val",),
    "Vanessa": ("Nessa",),
    "Victoria": ("Vicky", "Tori"),
    "Virginia": ("Ginny",),
}

#: (male pairs, female pairs) of similar given names for twins.
SIMILAR_TWIN_NAMES: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "m": (
        ("Jayden", "Jaden"),
        ("Aiden", "Aidan"),
        ("Brian", "Bryan"),
        ("Steven", "Stephen"),
        ("Eric", "Erik"),
        ("Carl", "Karl"),
        ("Philip", "Phillip"),
        ("Jeffrey", "Geoffrey"),
        ("Marc", "Mark"),
        ("Alan", "Allen"),
        ("Mason", "Jason"),
        ("Ethan", "Evan"),
    ),
    "f": (
        ("Kaitlyn", "Caitlin"),
        ("Madison", "Madeline"),
        ("Ashley", "Ashlyn"),
        ("Hailey", "Haley"),
        ("Kayla", "Kaylee"),
        ("Emily", "Emma"),
        ("Ava", "Ella"),
        ("Brianna", "Breanna"),
        ("Jasmine", "Jazmin"),
        ("Sara", "Sarah"),
        ("Kristen", "Kristin"),
        ("Lindsay", "Lindsey"),
    ),
}

HISPANIC_SURNAMES: Final[tuple[str, ...]] = (
    "Garcia", "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Perez", "Sanchez", "Ramirez", "Torres", "Flores", "Rivera", "Gomez", "Diaz", "Reyes", "Cruz", "Morales", "Ortiz", "Gutierrez", "Chavez", "Ramos", "Ruiz", "Mendoza", "Alvarez", "Castillo", "Jimenez", "Vasquez", "Romero", "Herrera", "Medina", "Aguilar", "Vargas", "Castro", "Fernandez", "Guzman", "Munoz", "Salazar", "Soto", "Delgado", "Pena", "Rios", "Alvarado", "Sandoval", "Contreras", "Valdez", "Guerrero", "Ortega", "Estrada", "Nunez", "Maldonado", "Vega", "Dominguez", "Acosta", "Espinoza", "Avila", "Navarro",
)  # fmt: skip

USPS_SUFFIXES: Final[dict[str, str]] = {
    "Alley": "ALY", "Avenue": "AVE", "Branch": "BR", "Bridge": "BRG", "Brook": "BRK",
    "Brooks": "BRKS", "Burg": "BG", "Burgs": "BGS", "Bypass": "BYP", "Camp": "CP",
    "Canyon": "CYN", "Cape": "CPE", "Causeway": "CSWY", "Center": "CTR", "Centers": "CTRS",
    "Circle": "CIR", "Circles": "CIRS", "Cliff": "CLF", "Cliffs": "CLFS", "Club": "CLB",
    "Common": "CMN", "Corner": "COR", "Corners": "CORS", "Course": "CRSE", "Court": "CT",
    "Courts": "CTS", "Cove": "CV", "Coves": "CVS", "Creek": "CRK", "Crescent": "CRES",
    "Crest": "CRST", "Crossing": "XING", "Crossroad": "XRD", "Curve": "CURV", "Dale": "DL",
    "Dam": "DM", "Divide": "DV", "Drive": "DR", "Drives": "DRS", "Estate": "EST",
    "Estates": "ESTS", "Expressway": "EXPY", "Extension": "EXT", "Extensions": "EXTS",
    "Falls": "FLS", "Ferry": "FRY", "Field": "FLD", "Fields": "FLDS", "Flat": "FLT",
    "Flats": "FLTS", "Ford": "FRD", "Fords": "FRDS", "Forest": "FRST", "Forge": "FRG",
    "Forges": "FRGS", "Fork": "FRK", "Forks": "FRKS", "Fort": "FT", "Freeway": "FWY",
    "Garden": "GDN", "Gardens": "GDNS", "Gateway": "GTWY", "Glen": "GLN", "Glens": "GLNS",
    "Green": "GRN", "Greens": "GRNS", "Grove": "GRV", "Groves": "GRVS", "Harbor": "HBR",
    "Harbors": "HBRS", "Haven": "HVN", "Heights": "HTS", "Highway": "HWY", "Hill": "HL",
    "Hills": "HLS", "Hollow": "HOLW", "Inlet": "INLT", "Island": "IS", "Islands": "ISS",
    "Junction": "JCT", "Junctions": "JCTS", "Key": "KY", "Keys": "KYS", "Knoll": "KNL",
    "Knolls": "KNLS", "Lake": "LK", "Lakes": "LKS", "Landing": "LNDG", "Lane": "LN",
    "Light": "LGT", "Lights": "LGTS", "Lock": "LCK", "Locks": "LCKS", "Lodge": "LDG",
    "Manor": "MNR", "Manors": "MNRS", "Meadow": "MDW", "Meadows": "MDWS", "Mill": "ML",
    "Mills": "MLS", "Mission": "MSN", "Motorway": "MTWY", "Mount": "MT", "Mountain": "MTN",
    "Mountains": "MTNS", "Neck": "NCK", "Orchard": "ORCH", "Overpass": "OPAS",
    "Parkway": "PKWY", "Parkways": "PKWY", "Passage": "PSGE", "Pine": "PNE", "Pines": "PNES",
    "Place": "PL", "Plain": "PLN", "Plains": "PLNS", "Plaza": "PLZ", "Point": "PT",
    "Points": "PTS", "Port": "PRT", "Ports": "PRTS", "Prairie": "PR", "Radial": "RADL",
    "Ranch": "RNCH", "Rapid": "RPD", "Rapids": "RPDS", "Rest": "RST", "Ridge": "RDG",
    "Ridges": "RDGS", "River": "RIV", "Road": "RD", "Roads": "RDS", "Route": "RTE",
    "Shoal": "SHL", "Shoals": "SHLS", "Shore": "SHR", "Shores": "SHRS", "Skyway": "SKWY",
    "Spring": "SPG", "Springs": "SPGS", "Square": "SQ", "Squares": "SQS", "Station": "STA",
    "Stravenue": "STRA", "Stream": "STRM", "Street": "ST", "Streets": "STS", "Summit": "SMT",
    "Terrace": "TER", "Throughway": "TRWY", "Trace": "TRCE", "Track": "TRAK",
    "Trafficway": "TRFY", "Trail": "TRL", "Tunnel": "TUNL", "Turnpike": "TPKE",
    "Underpass": "UPAS", "Union": "UN", "Unions": "UNS", "Valley": "VLY", "Valleys": "VLYS",
    "Viaduct": "VIA", "View": "VW", "Views": "VWS", "Village": "VLG", "Villages": "VLGS",
    "Ville": "VL", "Vista": "VIS", "Well": "WL", "Wells": "WLS",
}  # fmt: skip

_KEY_ROWS: Final = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_ROW_OFFSETS: Final = (0.0, 0.3, 0.8)  # how far each row is shifted right on a keyboard


def _keyboard_neighbours() -> dict[str, str]:
    """For each letter, the letters whose keys touch it on a US QWERTY keyboard."""
    position = {
        letter: (row, column + _ROW_OFFSETS[row])
        for row, keys in enumerate(_KEY_ROWS)
        for column, letter in enumerate(keys)
    }
    neighbours: dict[str, str] = {}
    for letter, (row, x) in position.items():
        near = [
            other
            for other, (other_row, other_x) in position.items()
            if other != letter
            and (
                (other_row == row and abs(other_x - x) <= 1.0)
                or (abs(other_row - row) == 1 and abs(other_x - x) <= 0.8)
            )
        ]
        neighbours[letter] = "".join(sorted(near))
    return neighbours


_NEIGHBOURS: Final = _keyboard_neighbours()


def _same_case(letter: str, like: str) -> str:
    return letter.upper() if like.isupper() else letter


def keyboard_typo(word: str, rng: random.Random) -> str:
    """One keyboard slip in ``word``: a neighbouring key struck instead (45 %), a letter
    left out (20 %), a neighbouring key struck as well (15 %) or two letters swapped
    (20 %). Only letters after the first are touched (people rarely miss the first one,
    and it keeps a capital where it was); a word without such a letter comes back as is.
    """
    letters = [i for i, ch in enumerate(word) if i > 0 and ch.lower() in _NEIGHBOURS]
    if not letters:
        return word
    for _ in range(8):
        i = rng.choice(letters)
        ch = word[i]
        roll = rng.random()
        if roll < 0.45:
            typed = word[:i] + _same_case(rng.choice(_NEIGHBOURS[ch.lower()]), ch) + word[i + 1 :]
        elif roll < 0.65:
            if len(letters) < 3:
                continue
            typed = word[:i] + word[i + 1 :]
        elif roll < 0.80:
            extra = _same_case(rng.choice(_NEIGHBOURS[ch.lower()] + ch.lower()), ch)
            typed = word[: i + 1] + extra + word[i + 1 :]
        else:
            if i + 1 >= len(word) or word[i + 1].lower() not in _NEIGHBOURS or ch.isupper():
                continue
            typed = word[:i] + word[i + 1] + ch + word[i + 2 :]
        if typed != word:
            return typed
    return word

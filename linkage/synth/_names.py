"""Name, street and place lists for synthetic people (invented combinations, no real persons)."""

from __future__ import annotations

from typing import Final

__all__ = ["GIVEN_NAMES", "NICKNAMES", "PLACES", "STREETS", "SURNAMES"]

#: Formal given name -> nicknames a clerk might write instead.
NICKNAMES: Final[dict[str, tuple[str, ...]]] = {
    "Robert": ("Bob", "Rob", "Bobby"),
    "William": ("Bill", "Will", "Liam"),
    "Elizabeth": ("Liz", "Beth", "Eliza"),
    "Katherine": ("Kate", "Kathy", "Kat"),
    "Margaret": ("Maggie", "Peggy", "Meg"),
    "James": ("Jim", "Jimmy", "Jamie"),
    "Michael": ("Mike", "Mick"),
    "Jennifer": ("Jen", "Jenny"),
    "Richard": ("Rick", "Richie"),
    "Thomas": ("Tom", "Tommy"),
    "Christopher": ("Chris", "Kit"),
    "Daniel": ("Dan", "Danny"),
    "Joseph": ("Joe", "Joey"),
    "Anthony": ("Tony", "Ant"),
    "Patricia": ("Pat", "Trish", "Patty"),
    "Susannah": ("Sue", "Susie"),
    "Deborah": ("Deb", "Debbie"),
    "Rebecca": ("Becky", "Bec"),
    "Samantha": ("Sam", "Sammy"),
    "Alexander": ("Alex", "Xander"),
    "Benjamin": ("Ben", "Benji"),
    "Jonathan": ("Jon", "Jonno"),
    "Nicholas": ("Nick", "Nico"),
    "Matthew": ("Matt", "Matty"),
    "Andrew": ("Andy", "Drew"),
    "Edward": ("Ed", "Ted", "Eddie"),
    "Charlotte": ("Charlie", "Lottie"),
    "Victoria": ("Vicky", "Tori"),
    "Jessica": ("Jess", "Jessie"),
    "Stephanie": ("Steph", "Stevie"),
    "Theodore": ("Theo", "Teddy"),
    "Abigail": ("Abby", "Gail"),
    "Zachary": ("Zach", "Zac"),
    "Josephine": ("Jo", "Josie"),
    "Frederick": ("Fred", "Freddie"),
    "Gabrielle": ("Gabby", "Elle"),
}

GIVEN_NAMES: Final[tuple[str, ...]] = (
    *NICKNAMES,
    "Aroha", "Mateo", "Noah", "Olivia", "Amelia", "Isla", "Tomás", "Zoë", "Hamish", "Priya",
    "Anjali", "Wiremu", "Mei", "Kenji", "Fatima", "Omar", "Yusuf", "Leilani", "Siobhan",
    "Declan", "Ngaio", "Rangi", "Ingrid", "Sven", "Chloé", "Léa", "Dmitri", "Oksana", "Farida",
    "Kwame", "Ayodele", "Bartholomew", "Cordelia", "Evangeline", "Lachlan", "Mackenzie",
    "Imogen", "Harriet", "Ruairi", "Saoirse", "Thandiwe", "Esperanza", "Joaquín", "Marisol",
    "Hiroshi", "Sakura", "Anh", "Minh", "Quentin", "Florence", "Winifred", "Percival",
)  # fmt: skip

SURNAMES: Final[tuple[str, ...]] = (
    "Abernethy", "Achterberg", "Okonkwo", "Nguyen", "Tran", "Papadopoulos", "Kowalczyk",
    "Fitzgerald", "O'Sullivan", "MacPherson", "Te Awa", "Ngata", "Whitcombe", "Delacroix",
    "Müller", "Schmidt", "Van der Berg", "De Souza", "Fernández", "Gonzaga", "Haddad",
    "Iskander", "Jovanović", "Kaczmarek", "Lindqvist", "Marchetti", "Novak", "Ostrowski",
    "Petrakis", "Quigley", "Rasmussen", "Santangelo", "Takahashi", "Underwood", "Valentini",
    "Wainwright", "Xenakis", "Yamamoto", "Zielinski", "Ashworth", "Blackwood", "Castellano",
    "Dunleavy", "Eriksen", "Fairweather", "Galbraith", "Hargreaves", "Ibbotson", "Jarrah",
    "Kingsford", "Llewellyn", "Montgomery", "Nakamura", "Oyelaran", "Pemberton", "Quintero",
    "Rutherford", "Sorensen", "Thistlewood", "Umberton", "Vanderbilt", "Wetherall", "Yeomans",
    "Zamora", "Aldridge", "Bellamy", "Cartwright", "Davenport", "Ellsworth", "Fairbanks",
    "Gillespie", "Holloway", "Inglewood", "Jeffries", "Kavanagh", "Lockhart", "Merriweather",
    "Northcott", "Oakhurst", "Prendergast", "Radcliffe", "Stanhope", "Tennyson", "Upshaw",
    "Vickers", "Whitlock", "Armitage", "Beaumont", "Chamberlain", "Dalrymple", "Everingham",
    "Featherstone", "Greenhalgh", "Hetherington", "Illingworth", "Kettlewell", "Loughlin",
    "Mulholland", "Nettleton", "Ormerod", "Pilkington", "Rowbotham", "Sutcliffe", "Tattersall",
    "Wolstenholme", "Ackroyd", "Braithwaite", "Cholmondeley", "Drinkwater", "Entwistle",
    "Fothergill", "Gatenby", "Higginbottom", "Kilpatrick", "Lightfoot", "Mortimer",
    "Nightingale", "Oldroyd", "Postlethwaite", "Ramsbottom", "Shufflebotham", "Threlfall",
    "Woodhouse", "Bhattacharya", "Chakraborty", "Raghunathan", "Subramaniam", "Venkataraman",
    "Oyelowo", "Adebayo", "Mbeki", "Ndlovu", "Okafor", "Mwangi", "Kamau", "Achebe",
)  # fmt: skip

STREETS: Final[tuple[str, ...]] = (
    "Mill Lane", "Church Road", "Station Street", "Wattle Grove", "Banksia Crescent",
    "Kookaburra Way", "Harbour View Road", "Jacaranda Avenue", "Riverbank Drive",
    "Ironbark Close", "Bluegum Parade", "Saltwater Terrace", "Quarry Hill Road",
    "Lighthouse Esplanade", "Paperbark Place", "Cockatoo Court", "Flametree Boulevard",
    "Magpie Rise", "Tallowwood Street", "Waratah Circuit", "Boronia Lane", "Currawong Drive",
)  # fmt: skip

#: (suburb, postcode, state)
PLACES: Final[tuple[tuple[str, str, str], ...]] = (
    ("Springvale", "3171", "VIC"), ("Parramatta", "2150", "NSW"), ("Toowong", "4066", "QLD"),
    ("Fremantle", "6160", "WA"), ("Glenelg", "5045", "SA"), ("Sandy Bay", "7005", "TAS"),
    ("Brunswick", "3056", "VIC"), ("Newtown", "2042", "NSW"), ("Fortitude Valley", "4006", "QLD"),
    ("Subiaco", "6008", "WA"), ("Norwood", "5067", "SA"), ("Battery Point", "7004", "TAS"),
    ("Footscray", "3011", "VIC"), ("Marrickville", "2204", "NSW"), ("Woolloongabba", "4102", "QLD"),
    ("Scarborough", "6019", "WA"), ("Prospect", "5082", "SA"), ("Launceston", "7250", "TAS"),
)  # fmt: skip

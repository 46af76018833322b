"""Name data of the diverse-households generator, written for it (no Faker, no linkage.synth).

The metro's households come from several naming traditions. Every list below is ordered
from common to rare and sampled with Zipf-like weights (``1 / (rank + 1) ** exponent``), so
a handful of surnames (Nguyen, Smith, Kim, Lee, Patel, Garcia, Singh) are very common
and each tradition has a long tail; Anglo, Eastern European and Greek surnames also get
a syllable-built tail, and Hispanic people carry two surnames, so a 20,000-person metro
holds a few thousand distinct surname spellings.

A person's given name is a :class:`Given`: the person's own spelling first, then the
transliteration variants a clerk may write (Mohammed / Muhammad / Mohamed, Aleksandr /
Alexander, Hoàng / Hoang, José / Jose), the nicknames they may give (William -> Bill) and,
for many East Asian people, the English name they use day to day.
"""

from __future__ import annotations

import random
import unicodedata
from bisect import bisect
from dataclasses import dataclass
from itertools import accumulate
from typing import Final, Literal, TypeAlias

__all__ = [
    "EAST_ASIAN",
    "TRADITIONS",
    "TRADITION_SHARE",
    "Given",
    "NameBank",
    "Pool",
    "Surname",
    "SurnameKind",
    "ascii_fold",
]

SurnameKind: TypeAlias = Literal["plain", "hispanic", "sikh", "patronymic"]

#: Household traditions and their share of the metro's households.
TRADITION_SHARE: Final[dict[str, float]] = {
    "anglo": 0.43,
    "vietnamese": 0.08,
    "chinese_mandarin": 0.05,
    "chinese_cantonese": 0.035,
    "korean": 0.035,
    "indian_gujarati": 0.02,
    "indian_punjabi": 0.02,
    "indian_north": 0.02,
    "indian_south": 0.02,
    "hispanic": 0.07,
    "filipino": 0.04,
    "arabic": 0.05,
    "lebanese_christian": 0.02,
    "russian_ukrainian": 0.03,
    "polish": 0.015,
    "balkan": 0.015,
    "greek": 0.025,
    "italian": 0.025,
}
TRADITIONS: Final[tuple[str, ...]] = tuple(TRADITION_SHARE)
#: Traditions whose family name comes first in the native order (recorded swapped by some).
EAST_ASIAN: Final[frozenset[str]] = frozenset(
    {"vietnamese", "chinese_mandarin", "chinese_cantonese", "korean"}
)

_EXTRA_ASCII: Final = str.maketrans(
    {"đ": "d", "Đ": "D", "ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "ß": "ss", "æ": "ae"}
)


def ascii_fold(text: str) -> str:
    """The ASCII spelling a system without Unicode support writes (``Nguyễn`` -> ``Nguyen``)."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_EXTRA_ASCII))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


class Pool:
    """Names sampled with Zipf-like weights by rank, or with explicit weights."""

    __slots__ = ("_cumulative", "items")

    def __init__(
        self,
        items: str | list[str] | tuple[str, ...],
        *,
        exponent: float = 1.0,
        weights: list[float] | None = None,
    ) -> None:
        names = _split(items) if isinstance(items, str) else list(items)
        names = list(dict.fromkeys(names))
        if weights is None:
            weights = [1.0 / (rank + 1) ** exponent for rank in range(len(names))]
        if len(weights) != len(names) or not names:
            raise ValueError("a pool needs one weight per name and at least one name")
        self.items: tuple[str, ...] = tuple(names)
        self._cumulative: list[float] = list(accumulate(weights))

    def pick(self, rng: random.Random) -> str:
        """One name, by weight."""
        point = rng.random() * self._cumulative[-1]
        return self.items[min(bisect(self._cumulative, point), len(self.items) - 1)]

    def __len__(self) -> int:
        return len(self.items)


def _split(text: str) -> list[str]:
    """Names separated by commas or new lines (a name may hold spaces: ``de la Cruz``)."""
    out: list[str] = []
    for line in text.replace("\n", ",").split(","):
        name = line.strip()
        if name:
            out.append(name)
    return out


def _words(text: str) -> list[str]:
    return text.split()


@dataclass(frozen=True, slots=True)
class Given:
    """A given name: the person's own spelling first, then the variants clerks write."""

    forms: tuple[str, ...]
    nicknames: tuple[str, ...] = ()
    #: the English name used day to day (East Asian and some other migrants), or ""
    alias: str = ""

    @property
    def own(self) -> str:
        return self.forms[0]


@dataclass(frozen=True, slots=True)
class Surname:
    """A surname as the person holds it, with the spellings records may show.

    ``plain``: ``forms[0]`` is the person's spelling, the rest are variants (transliteration,
    spacing of particles and Arabic prefixes, the other grammatical gender).
    ``hispanic``: ``forms[0]`` is the paternal surname, ``maternal`` the second one;
    ``style`` is how the person writes them (0 both, 1 paternal only, 2 hyphenated).
    ``sikh``: ``forms[0]`` is Singh or Kaur, ``family`` the family name or "";
    ``style`` 0 Singh/Kaur only, 1 the family name, 2 both.
    ``patronymic``: no family name; ``forms[0]`` is the father's given name, which most
    systems use as the surname.
    For ``plain`` surnames ``family`` is the base (masculine) family name children inherit.
    """

    kind: SurnameKind
    forms: tuple[str, ...]
    maternal: str = ""
    family: str = ""
    style: int = 0

    def usual(self) -> str:
        """The surname as the person states it."""
        first = self.forms[0]
        if self.kind == "hispanic":
            if self.style == 0 and self.maternal:
                return f"{first} {self.maternal}"
            if self.style == 2 and self.maternal:
                return f"{first}-{self.maternal}"
            return first
        if self.kind == "sikh":
            if self.style == 1 and self.family:
                return self.family
            if self.style == 2 and self.family:
                return f"{first} {self.family}"
            return first
        return first


# --------------------------------------------------------------------------------------
# Transliteration variant groups (the first spelling is the most common) and nicknames.

_GIVEN_VARIANT_GROUPS: Final[tuple[tuple[str, ...], ...]] = (
    # Arabic
    ("Mohammed", "Muhammad", "Mohamed", "Mohammad", "Mohamad", "Muhammed"),
    ("Ahmed", "Ahmad"),
    ("Hussein", "Hussain", "Husain", "Hussien"),
    ("Hassan", "Hasan"),
    ("Youssef", "Yousef", "Yusuf", "Yousif"),
    ("Khaled", "Khalid"),
    ("Mahmoud", "Mahmood", "Mahmud"),
    ("Omar", "Umar"),
    ("Ibrahim", "Ebrahim"),
    ("Mustafa", "Mostafa", "Moustafa"),
    ("Abdullah", "Abdallah", "Abdulla"),
    ("Abdulrahman", "Abdul Rahman", "Abdel Rahman", "Abdelrahman"),
    ("Karim", "Kareem"),
    ("Samir", "Sameer"),
    ("Tariq", "Tarek", "Tarik"),
    ("Walid", "Waleed"),
    ("Jamal", "Gamal"),
    ("Hamza", "Hamzah"),
    ("Osama", "Usama"),
    ("Saleh", "Salih"),
    ("Nabil", "Nabeel"),
    ("Rami", "Ramy"),
    ("Ziad", "Ziyad"),
    ("Fadi", "Fady"),
    ("Adel", "Adil"),
    ("Fatima", "Fatimah", "Fatma"),
    ("Aisha", "Aysha", "Ayesha", "Aicha"),
    ("Maryam", "Mariam", "Meriam"),
    ("Zainab", "Zaynab", "Zeinab"),
    ("Layla", "Leila", "Laila", "Leyla"),
    ("Noor", "Nour", "Nur"),
    ("Rania", "Ranya"),
    ("Hana", "Hanaa"),
    ("Amira", "Ameera"),
    ("Yasmin", "Yasmine", "Yasmeen"),
    ("Mona", "Muna"),
    ("Huda", "Hoda"),
    ("Sara", "Sarah"),
    ("Dina", "Deena"),
    ("Lina", "Leena"),
    ("Reem", "Rim"),
    ("Samira", "Sameera"),
    ("Nadia", "Nadya"),
    ("Souad", "Suad"),
    ("Khadija", "Khadijah", "Khadeeja"),
    # Eastern European
    ("Aleksandr", "Alexander", "Aleksander", "Oleksandr", "Alexandr"),
    ("Dmitri", "Dmitry", "Dmitriy", "Dimitri"),
    ("Yuri", "Yury", "Yuriy", "Iouri"),
    ("Sergei", "Sergey", "Serhiy", "Sergiy"),
    ("Andrei", "Andrey", "Andriy"),
    ("Nikolai", "Nikolay", "Mykola"),
    ("Mikhail", "Mykhailo", "Michail"),
    ("Vladimir", "Volodymyr", "Wladimir"),
    ("Alexei", "Aleksei", "Alexey", "Oleksiy"),
    ("Igor", "Ihor"),
    ("Yevgeny", "Evgeny", "Evgeniy", "Yevhen"),
    ("Viktor", "Victor"),
    ("Maksim", "Maxim", "Maksym"),
    ("Artem", "Artyom", "Artiom"),
    ("Oleg", "Oleh"),
    ("Vasily", "Vasiliy", "Vasyl"),
    ("Bogdan", "Bohdan"),
    ("Anatoly", "Anatoliy"),
    ("Paweł", "Pawel"),
    ("Łukasz", "Lukasz"),
    ("Natalia", "Natalya", "Nataliya", "Natalija"),
    ("Elena", "Yelena", "Olena", "Jelena"),
    ("Tatiana", "Tatyana", "Tetiana", "Tatjana"),
    ("Olga", "Olha"),
    ("Svetlana", "Svitlana"),
    ("Irina", "Iryna"),
    ("Ekaterina", "Yekaterina", "Kateryna", "Katerina"),
    ("Yulia", "Yuliya", "Iuliia"),
    ("Anastasia", "Anastasiya"),
    ("Ludmila", "Lyudmila", "Liudmyla"),
    ("Galina", "Halyna"),
    ("Valentina", "Valentyna"),
    ("Larisa", "Larysa"),
    ("Ksenia", "Kseniya", "Xenia"),
    ("Małgorzata", "Malgorzata"),
    ("Mariya", "Maria", "Marija"),
    # Indian
    ("Lakshmi", "Laxmi", "Luxmi"),
    ("Geeta", "Gita"),
    ("Sita", "Seetha", "Seeta"),
    ("Meera", "Mira"),
    ("Srinivas", "Sreenivas", "Srinivasa"),
    ("Venkatesh", "Venkatesan"),
    ("Deepak", "Dipak"),
    ("Pradeep", "Pradip"),
    ("Sandeep", "Sandip"),
    ("Kuldeep", "Kuldip"),
    ("Rajinder", "Rajender", "Rajindar"),
    ("Harjit", "Harjeet"),
    ("Kamaljeet", "Kamaljit"),
    ("Jaspreet", "Jasprit"),
    ("Aishwarya", "Aishwaria"),
    ("Subramanian", "Subramaniam", "Subramanyam"),
    # Anglo spellings
    ("Catherine", "Katherine", "Kathryn"),
    ("Stephen", "Steven"),
    ("Isabel", "Isabelle", "Isobel"),
    ("Zoe", "Zoë"),
    ("Chloe", "Chloë"),
    ("Madeleine", "Madeline"),
    ("Aidan", "Aiden", "Ayden"),
    ("Caitlin", "Kaitlyn", "Katelyn"),
    ("Ashleigh", "Ashley"),
    ("Rachel", "Rachael"),
    ("Matthew", "Mathew"),
    ("Phillip", "Philip"),
    ("Geoffrey", "Jeffrey"),
    ("Sean", "Shaun", "Shawn"),
    ("Allan", "Alan", "Allen"),
    ("Brian", "Bryan"),
    ("Carl", "Karl"),
    ("Claire", "Clare"),
    ("Megan", "Meghan"),
    ("Hayley", "Haley", "Hailey"),
    ("Jackson", "Jaxon"),
    ("Tahlia", "Talia"),
    ("Teagan", "Tegan"),
    ("Lachlan", "Lachlann"),
    # Hispanic and Filipino (diacritics fold away; spaces and abbreviations do not)
    ("José", "Jose"),
    ("María", "Maria"),
    ("Jesús", "Jesus"),
    ("Ángel", "Angel"),
    ("Sofía", "Sofia"),
    ("Lucía", "Lucia"),
    ("Raúl", "Raul"),
    ("Andrés", "Andres"),
    ("Héctor", "Hector"),
    ("Óscar", "Oscar"),
    ("Verónica", "Veronica"),
    ("Mónica", "Monica"),
    ("Ximena", "Jimena"),
    ("Yesenia", "Jesenia"),
    ("María José", "Maria Jose", "María-José", "Mariajose"),
    ("Juan Carlos", "Juancarlos", "Juan-Carlos"),
    ("Ma. Cristina", "Maria Cristina", "Ma Cristina"),
    ("Ma. Theresa", "Maria Theresa", "Ma Theresa"),
    ("John Paul", "Johnpaul", "John-Paul"),
    ("Mary Grace", "Marygrace", "Mary-Grace"),
    ("Mary Ann", "Maryann", "Mary-Ann"),
    # Greek and Italian
    ("Konstantinos", "Constantinos", "Kostas"),
    ("Georgios", "Giorgos"),
    ("Dimitrios", "Dimitris", "Demetrios"),
    ("Ioannis", "Giannis", "Yiannis"),
    ("Panagiotis", "Panayiotis"),
    ("Vasilios", "Vasileios", "Vassilis"),
    ("Nikolaos", "Nikos"),
    ("Athanasios", "Thanasis"),
    ("Spyridon", "Spiros", "Spyros"),
    ("Aikaterini", "Ekaterini", "Katerina"),
    ("Vasiliki", "Vassiliki"),
    ("Paraskevi", "Paraskeui"),
    # Vietnamese with and without marks
    ("Hoàng", "Hoang"),
    ("Tuấn", "Tuan"),
    ("Dũng", "Dung"),
    ("Thắng", "Thang"),
    ("Hương", "Huong"),
    ("Phương", "Phuong"),
    ("Thảo", "Thao"),
    ("Ngọc", "Ngoc"),
    ("Hạnh", "Hanh"),
)
_VARIANTS: Final[dict[str, tuple[str, ...]]] = {
    name: group for group in _GIVEN_VARIANT_GROUPS for name in group
}

_NICKNAMES: Final[dict[str, tuple[str, ...]]] = {
    "William": ("Bill", "Will", "Billy", "Liam"),
    "Robert": ("Rob", "Bob", "Robbie", "Bobby"),
    "Richard": ("Rick", "Richie", "Dick"),
    "James": ("Jim", "Jimmy", "Jamie"),
    "John": ("Jack", "Johnny"),
    "Thomas": ("Tom", "Tommy"),
    "Michael": ("Mike", "Mick", "Mikey"),
    "Christopher": ("Chris",),
    "Matthew": ("Matt",),
    "Daniel": ("Dan", "Danny"),
    "Joseph": ("Joe", "Joey"),
    "Benjamin": ("Ben", "Benji"),
    "Samuel": ("Sam",),
    "Nicholas": ("Nick", "Nic"),
    "Anthony": ("Tony", "Ant"),
    "Andrew": ("Andy", "Drew"),
    "Edward": ("Ed", "Eddie", "Ted"),
    "Jonathan": ("Jon", "Jono"),
    "Stephen": ("Steve",),
    "Steven": ("Steve",),
    "David": ("Dave", "Davo"),
    "Peter": ("Pete",),
    "Alexander": ("Alex", "Xander"),
    "Joshua": ("Josh",),
    "Zachary": ("Zac", "Zach"),
    "Patrick": ("Pat", "Paddy"),
    "Timothy": ("Tim",),
    "Gregory": ("Greg",),
    "Kenneth": ("Ken", "Kenny"),
    "Charles": ("Charlie",),
    "Henry": ("Harry",),
    "Raymond": ("Ray",),
    "Ronald": ("Ron", "Ronnie"),
    "Donald": ("Don",),
    "Francis": ("Frank",),
    "Douglas": ("Doug",),
    "Bradley": ("Brad",),
    "Jacob": ("Jake",),
    "Lachlan": ("Lachie",),
    "Mitchell": ("Mitch",),
    "Theodore": ("Theo", "Ted"),
    "Elizabeth": ("Liz", "Beth", "Lizzie", "Betty"),
    "Catherine": ("Kate", "Cathy", "Cate"),
    "Katherine": ("Kate", "Kathy", "Katie"),
    "Margaret": ("Maggie", "Marg", "Peggy", "Meg"),
    "Jennifer": ("Jenny", "Jen"),
    "Jessica": ("Jess", "Jessie"),
    "Rebecca": ("Bec", "Becky", "Becca"),
    "Samantha": ("Sam", "Sammy"),
    "Alexandra": ("Alex", "Lexi"),
    "Victoria": ("Vicky", "Tori"),
    "Susan": ("Sue", "Suzie"),
    "Deborah": ("Deb", "Debbie"),
    "Patricia": ("Pat", "Trish", "Patty"),
    "Christine": ("Chris", "Chrissy"),
    "Kimberley": ("Kim",),
    "Charlotte": ("Charlie", "Lottie"),
    "Isabella": ("Bella", "Izzy"),
    "Amanda": ("Mandy",),
    "Stephanie": ("Steph",),
    "Natalie": ("Nat",),
    "Madeleine": ("Maddy", "Maddie"),
    "Jacqueline": ("Jackie",),
    "Dorothy": ("Dot", "Dottie"),
    "Pamela": ("Pam",),
    "Josephine": ("Jo", "Josie"),
    # Hispanic
    "Francisco": ("Paco", "Pancho", "Frank"),
    "José": ("Pepe", "Joe"),
    "Guadalupe": ("Lupe",),
    "Dolores": ("Lola",),
    "Ignacio": ("Nacho",),
    "Alejandro": ("Alex", "Ale"),
    "Roberto": ("Beto", "Rob"),
    "Eduardo": ("Lalo", "Eddie"),
    "Jesús": ("Chuy",),
    "Enrique": ("Quique", "Henry"),
    "Manuel": ("Manolo", "Manny"),
    "Antonio": ("Toño", "Tony"),
    "Guillermo": ("Memo", "Willy"),
    "Rafael": ("Rafa",),
    "Santiago": ("Santi",),
    "Gabriela": ("Gabi",),
    "Daniela": ("Dani",),
    # Greek and Italian everyday names
    "Konstantinos": ("Con", "Costa", "Dean"),
    "Georgios": ("George",),
    "Dimitrios": ("Jim", "Jimmy", "Dimi"),
    "Ioannis": ("John", "Yianni"),
    "Panagiotis": ("Peter", "Takis", "Panos"),
    "Vasilios": ("Bill", "Basil"),
    "Nikolaos": ("Nick",),
    "Athanasios": ("Tom", "Thanasi"),
    "Spyridon": ("Spiro",),
    "Christos": ("Chris",),
    "Eleni": ("Helen",),
    "Vasiliki": ("Vicky", "Bessie", "Vaso"),
    "Aikaterini": ("Kathy", "Katie"),
    "Paraskevi": ("Voula", "Vivian"),
    "Konstantina": ("Dina", "Tina"),
    "Giuseppe": ("Joe", "Pino", "Joseph"),
    "Giovanni": ("John", "Gianni"),
    "Francesco": ("Frank",),
    "Salvatore": ("Sam", "Sal", "Salvo"),
    "Vincenzo": ("Vince", "Enzo"),
    "Domenico": ("Dominic", "Mimmo"),
    "Pasquale": ("Pat",),
    "Rosario": ("Ross",),
    "Giuseppina": ("Josie", "Pina"),
    "Concetta": ("Connie",),
    "Carmela": ("Carmel",),
    "Antonietta": ("Toni", "Netta"),
    # Eastern European
    "Aleksandr": ("Sasha", "Alex"),
    "Dmitri": ("Dima",),
    "Vladimir": ("Vova", "Volodya"),
    "Mikhail": ("Misha",),
    "Ekaterina": ("Katya",),
    "Natalia": ("Natasha",),
    "Anastasia": ("Nastya",),
    "Yevgeny": ("Zhenya",),
    "Tatiana": ("Tanya",),
}

# --------------------------------------------------------------------------------------
# Given names.

_ANGLO_MALE: Final = {
    1955: Pool(
        """John, William, Robert, James, Kenneth, Ronald, Raymond, Donald, George, Peter,
        Thomas, Richard, Brian, Keith, Barry, Graham, Colin, Allan, Norman, Francis, Arthur,
        Harold, Leslie, Edward, Stanley, Jack, Ernest, Douglas, Bruce, Neville, Gordon,
        Geoffrey, Trevor, Dennis, Maxwell, Kevin, Charles, Henry, Lionel, Clifford, Reginald""",
        exponent=0.8,
    ),
    1980: Pool(
        """David, Michael, Peter, Paul, Mark, Stephen, Andrew, John, Robert, Anthony,
        Christopher, Craig, Darren, Wayne, Glenn, Shane, Scott, Brett, Gregory, Matthew,
        Jason, Richard, Gary, Phillip, Brendan, Troy, Dean, Adam, Nathan, Timothy, Simon,
        Grant, Rodney, Warren, Ian, Neil, Bradley, Geoffrey, Kenneth, Sean""",
        exponent=0.8,
    ),
    2000: Pool(
        """Matthew, Daniel, Michael, Joshua, Benjamin, Christopher, Andrew, David, James,
        Thomas, Ryan, Nicholas, Luke, Jack, Samuel, Adam, Nathan, Jake, Jordan, Aaron,
        Dylan, Mitchell, Jarrod, Bradley, Liam, Jacob, Corey, Kyle, Blake, Tyler, Sean,
        Lachlan, Brendan, Jason, Patrick, Timothy, Alexander, Callum, Cameron, Zachary""",
        exponent=0.8,
    ),
    9999: Pool(
        """Oliver, Noah, Jack, William, Leo, Lucas, Thomas, Henry, Charlie, James, Liam,
        Ethan, Mason, Hudson, Harrison, Lachlan, Cooper, Xavier, Archie, Hunter, Max, Isaac,
        Oscar, Levi, Jackson, Riley, Samuel, Alexander, Flynn, Harvey, Logan, Jayden, Ryder,
        Kai, Aidan, Beau, Archer, Ashton, Theodore, Elijah""",
        exponent=0.8,
    ),
}
_ANGLO_FEMALE: Final = {
    1955: Pool(
        """Margaret, Patricia, Joan, Dorothy, Betty, Shirley, Barbara, Jean, Valerie,
        Beverley, Joyce, Elizabeth, Mary, Marjorie, June, Gwendoline, Doris, Nancy, Marie,
        Kathleen, Judith, Helen, Gloria, Lorraine, Maureen, Robyn, Sandra, Janice, Pamela,
        Lynette, Carol, Dawn, Elaine, Noreen, Phyllis, Heather, Rosemary, Gail, Irene,
        Josephine""",
        exponent=0.8,
    ),
    1980: Pool(
        """Michelle, Lisa, Karen, Kylie, Sharon, Jennifer, Julie, Nicole, Susan, Sarah,
        Kerry, Tracey, Rebecca, Melissa, Angela, Deborah, Donna, Leanne, Catherine, Belinda,
        Amanda, Joanne, Jodie, Kim, Linda, Wendy, Christine, Natalie, Fiona, Anne, Tanya,
        Vicki, Rachel, Cheryl, Alison, Samantha, Narelle, Tania, Megan, Claire""",
        exponent=0.8,
    ),
    2000: Pool(
        """Jessica, Sarah, Emma, Rebecca, Amy, Emily, Stephanie, Laura, Hannah, Samantha,
        Kate, Jennifer, Melissa, Rachel, Lauren, Chloe, Ashleigh, Nicole, Danielle, Kayla,
        Courtney, Georgia, Brooke, Natasha, Megan, Elizabeth, Alexandra, Bianca, Caitlin,
        Teagan, Jade, Shannon, Kimberley, Renee, Tahlia, Hayley, Alana, Zoe, Katherine,
        Madeleine""",
        exponent=0.8,
    ),
    9999: Pool(
        """Charlotte, Olivia, Amelia, Isla, Mia, Ava, Grace, Chloe, Ella, Sophie, Zoe,
        Matilda, Ruby, Harper, Sienna, Evie, Willow, Emily, Isabella, Lily, Ivy, Georgia,
        Scarlett, Aria, Hannah, Maddison, Jasmine, Lucy, Audrey, Layla, Zara, Frankie,
        Hazel, Billie, Mila, Stella, Elsie, Florence, Isabel, Victoria""",
        exponent=0.8,
    ),
}
_ENGLISH_ALIAS_MALE: Final = Pool(
    """Kevin, Jason, David, Michael, Eric, Tony, Peter, Daniel, Andrew, Steven, Vincent,
    Kelvin, Alan, Jimmy, Henry, Raymond, Jack, Leo, Ryan, Justin, Danny, Johnny, Simon,
    Victor, Calvin, Dennis, Brian, Tommy, William, Alex""",
    exponent=0.7,
)
_ENGLISH_ALIAS_FEMALE: Final = Pool(
    """Jenny, Vivian, Cindy, Amy, Lily, Annie, Helen, Michelle, Tina, Linda, Kelly, Grace,
    Cathy, Joanne, Winnie, Ivy, Tiffany, Jessica, Sandy, Christina, Angela, Irene, Vicky,
    Emily, Sophie, Rachel, Jennifer, Anna, Karen, Judy""",
    exponent=0.7,
)

_VIET_MALE: Final = Pool(
    _words(
        "Minh Tuấn Hùng Dũng Hải Long Nam Phong Quang Thành Trung Việt Hoàng Khoa Đức Huy "
        "Bảo Thắng Sơn Tâm Cường Hiếu Vinh Tài Phúc Khánh Lộc Tiến Thịnh Nhân"
    ),
    exponent=0.6,
)
_VIET_FEMALE: Final = Pool(
    _words(
        "Linh Lan Hương Mai Ngọc Thảo Trang Hà Hoa Thu Phương Anh Hạnh Nhung Vy Hằng Thúy "
        "Yến Nga Loan Diễm Tuyết Quyên Uyên Oanh Hiền Trinh Châu Nhi"
    ),
    exponent=0.6,
)
_VIET_MIDDLE_MALE: Final = Pool(
    _words("Văn Đức Minh Quốc Thanh Hữu Công Hoàng Ngọc"),
    weights=[50, 8, 8, 7, 7, 6, 5, 5, 4],
)
_VIET_MIDDLE_FEMALE: Final = Pool(
    _words("Thị Ngọc Thanh Thu Kim Hồng Bích Minh Phương"),
    weights=[55, 9, 8, 6, 6, 5, 4, 4, 3],
)
_MANDARIN_SYLLABLES_MALE: Final = Pool(
    _words(
        "Wei Jun Hao Jie Ming Lei Tao Yong Qiang Jian Peng Bo Hui Xiang Yu Zhi Kai Chen "
        "Long Feng Yi Hong Hua Guo Wen Zhen Bin Chao Gang Jia Xin Hai Lin Rui Tian"
    ),
    exponent=0.5,
)
_MANDARIN_SYLLABLES_FEMALE: Final = Pool(
    _words(
        "Mei Li Ying Xiao Yan Jing Hui Lin Fang Hong Na Ling Qing Xue Yun Juan Jia Ting "
        "Yu Xin Lan Min Shu Dan Qian Yue Wen Hua Zhen Lu Xia Yi"
    ),
    exponent=0.5,
)
_CANTONESE_SYLLABLES: Final = Pool(
    _words(
        "Ka Wai Siu Ming Wing Kei Chi Keung Man Yee Hoi Kit Yan Lok Kwok Fai Hung Sze "
        "Mei Ling Chun Ho Tsz Hin Pui Shan Suk Fong Wah Kin"
    ),
    exponent=0.4,
)
_KOREAN_MALE: Final = Pool(
    """Min-jun, Seo-jun, Do-yun, Ji-ho, Hyun-woo, Jae-won, Sung-min, Dong-hyun, Sang-hoon,
    Young-ho, Jin-woo, Kyung-soo, Tae-yang, Jun-ho, Seung-hyun, Jae-hyun, Min-ho, Ji-hoon,
    Woo-jin, Sung-ho, Young-soo, Chul-soo, Jung-ho, Dae-jung""",
    exponent=0.6,
)
_KOREAN_FEMALE: Final = Pool(
    """Seo-yeon, Ji-woo, Min-seo, Ha-eun, Ji-yoo, Soo-ah, Eun-ji, Hye-jin, Ji-hye,
    Mi-kyung, Young-hee, Soo-jin, Yoo-jin, Da-eun, Ye-jin, Hyun-joo, Eun-young, Ji-yeon,
    Su-bin, Na-yeon, Mi-sook, Jung-hee, Kyung-ja, Hye-won""",
    exponent=0.6,
)
_INDIAN_MALE: Final = {
    "indian_gujarati": Pool(
        """Rajesh, Nilesh, Mahesh, Hitesh, Jignesh, Ketan, Dhaval, Chirag, Bhavesh, Hardik,
        Parth, Rakesh, Manish, Dinesh, Kalpesh, Mitesh, Pratik, Amit, Nikhil, Jay, Dev,
        Harsh, Kunal, Vivek, Yash, Aarav, Vihaan, Arnav""",
        exponent=0.6,
    ),
    "indian_punjabi": Pool(
        """Gurpreet, Harpreet, Manpreet, Jaspreet, Harjit, Sukhwinder, Kuldeep, Rajinder,
        Amarjit, Balwinder, Parminder, Jagdeep, Navdeep, Gurdeep, Simranjit, Harinder,
        Ranjit, Jasvir, Inderjit, Hardeep, Arjun, Karan, Ravi, Sandeep""",
        exponent=0.6,
    ),
    "indian_north": Pool(
        """Rahul, Amit, Vikram, Sanjay, Vijay, Arjun, Rohan, Aditya, Karan, Nikhil, Deepak,
        Manoj, Sunil, Anil, Ajay, Rohit, Ankit, Gaurav, Saurabh, Abhishek, Varun, Pradeep,
        Sandeep, Ashok, Alok, Anup, Sourav, Arindam, Debashis, Mohammed, Imran, Faisal""",
        exponent=0.6,
    ),
    "indian_south": Pool(
        """Srinivas, Venkatesh, Ganesh, Ramesh, Suresh, Krishna, Mohan, Karthik, Senthil,
        Murali, Prakash, Balaji, Arun, Vijay, Rajesh, Sathish, Ravi, Harish, Naveen,
        Vignesh, Dinesh, Prasad, Anand, Raghu, Subramanian, Kumar, Sanjay, Aravind""",
        exponent=0.6,
    ),
}
_INDIAN_FEMALE: Final = {
    "indian_gujarati": Pool(
        """Priya, Pooja, Nisha, Hetal, Krupa, Bhavna, Jigna, Dipti, Falguni, Komal, Mansi,
        Rupal, Sejal, Shital, Trupti, Urvi, Kinjal, Payal, Riya, Khushi, Diya, Jaya, Meera,
        Ananya""",
        exponent=0.6,
    ),
    "indian_punjabi": Pool(
        """Harpreet, Manpreet, Gurpreet, Jaspreet, Simran, Navneet, Rajinder, Kamaljeet,
        Sukhjit, Amandeep, Ramandeep, Harjit, Parveen, Balbir, Jasleen, Mandeep, Gurleen,
        Navjot, Sandeep, Rupinder""",
        exponent=0.6,
    ),
    "indian_north": Pool(
        """Priya, Pooja, Neha, Anjali, Sunita, Anita, Kavita, Deepa, Divya, Shreya, Ritu,
        Sapna, Pallavi, Swati, Nidhi, Rekha, Sarita, Usha, Geeta, Seema, Aishwarya, Ananya,
        Moumita, Sharmila, Fatima, Ayesha""",
        exponent=0.6,
    ),
    "indian_south": Pool(
        """Lakshmi, Meena, Divya, Priya, Kavitha, Deepa, Revathi, Saranya, Sangeetha,
        Radha, Sita, Padma, Vidya, Bhavani, Gayathri, Shanthi, Anitha, Malathi, Preethi,
        Nandini, Aishwarya, Sowmya, Keerthana, Meera""",
        exponent=0.6,
    ),
}
_HISPANIC_MALE: Final = Pool(
    """José, Juan, Carlos, Luis, Jorge, Miguel, Francisco, Antonio, Manuel, Pedro,
    Alejandro, Javier, Ricardo, Fernando, Roberto, Eduardo, Daniel, Diego, Sergio, Andrés,
    Raúl, Héctor, Mario, Óscar, Pablo, Rafael, Enrique, Arturo, Alberto, Jesús, Gabriel,
    Ramón, Víctor, Julio, Ernesto, Guillermo, Santiago, Mateo, Sebastián, Nicolás, Emiliano,
    Joaquín, Martín, Ángel, Gustavo, Hugo, Iván, Rodrigo, Salvador, Felipe, Ignacio, Tomás,
    Cristian, Esteban, Adrián""",
    exponent=0.7,
)
_HISPANIC_FEMALE: Final = Pool(
    """María, Ana, Carmen, Rosa, Guadalupe, Laura, Patricia, Gabriela, Daniela, Sofía,
    Valentina, Isabella, Camila, Lucía, Fernanda, Alejandra, Andrea, Mariana, Paola,
    Verónica, Claudia, Adriana, Elena, Teresa, Marta, Silvia, Lorena, Beatriz, Julia,
    Diana, Natalia, Victoria, Ximena, Paula, Carolina, Juliana, Mónica, Catalina,
    Esperanza, Dolores, Pilar, Consuelo, Yolanda, Araceli, Leticia, Rocío, Inés, Gloria,
    Yesenia""",
    exponent=0.7,
)
_HISPANIC_COMPOUND_MALE: Final = Pool(
    """Juan Carlos, José Luis, Juan Pablo, José Antonio, Miguel Ángel, Luis Miguel,
    Juan José, José Manuel, Carlos Alberto, Jorge Luis""",
    exponent=0.5,
)
_HISPANIC_COMPOUND_FEMALE: Final = Pool(
    """María José, María Fernanda, Ana María, María Guadalupe, María del Carmen,
    María Elena, María Teresa, Ana Lucía, María Isabel, Luz María""",
    exponent=0.5,
)
_FILIPINO_MALE: Final = Pool(
    """Jose, Mark, Michael, John Paul, Jerome, Rommel, Ronaldo, Rodel, Ramon, Fernando,
    Alvin, Arnel, Jericho, Joel, Reynaldo, Rodrigo, Eduardo, Antonio, Christian, Kenneth,
    Carlo, Paolo, Angelo, Jayson, Marvin, Ariel, Edgar, Danilo, Rolando, Nestor, Renato,
    Romeo, Juan""",
    exponent=0.6,
)
_FILIPINO_FEMALE: Final = Pool(
    """Maria, Maricel, Marites, Rosalie, Jocelyn, Lourdes, Cristina, Angelica, Princess,
    Joy, Mary Grace, Mary Ann, Jennifer, Michelle, Kristine, Rowena, Marilou, Rosario,
    Teresita, Analyn, Divina, Erlinda, Leonora, Lorna, Luzviminda, Ma. Cristina,
    Ma. Theresa, Jonalyn, Rhea, Lovely""",
    exponent=0.6,
)
_ARABIC_MALE: Final = Pool(
    """Mohammed, Ahmed, Ali, Omar, Hassan, Hussein, Khaled, Mahmoud, Youssef, Ibrahim,
    Mustafa, Abdullah, Abdulrahman, Karim, Samir, Tariq, Walid, Jamal, Bilal, Hamza, Osama,
    Saleh, Nabil, Rami, Ziad, Fadi, Adel, Yasser, Majid, Faisal""",
    exponent=0.9,
)
_ARABIC_FEMALE: Final = Pool(
    """Fatima, Aisha, Maryam, Zainab, Layla, Noor, Rania, Hana, Amira, Yasmin, Salma,
    Rana, Mona, Huda, Sara, Dina, Lina, Reem, Samira, Nadia, Jana, Rasha, Souad, Khadija,
    Malak, Hiba, Ghada, Manal""",
    exponent=0.8,
)
_LEBANESE_CHRISTIAN_MALE: Final = Pool(
    """Joseph, Elias, Georges, Charbel, Tony, Michel, Antoine, Fadi, Rami, Ziad, Pierre,
    Jean, Bechara, Nabil, Sami, Marc, Elie, Habib""",
    exponent=0.7,
)
_LEBANESE_CHRISTIAN_FEMALE: Final = Pool(
    """Marie, Rita, Joelle, Nadine, Carla, Rosette, Nancy, Mirna, Gisele, Layal, Maya,
    Rima, Josephine, Claudette, Nicole, Christine, Grace, Randa""",
    exponent=0.7,
)
_EE_MALE: Final = {
    "russian_ukrainian": Pool(
        """Aleksandr, Dmitri, Sergei, Andrei, Vladimir, Nikolai, Mikhail, Yuri, Alexei,
        Igor, Ivan, Yevgeny, Viktor, Maksim, Artem, Oleg, Pavel, Vasily, Bogdan, Roman,
        Anatoly, Taras, Denys, Stanislav""",
        exponent=0.7,
    ),
    "polish": Pool(
        """Piotr, Krzysztof, Tomasz, Paweł, Marcin, Michał, Łukasz, Jakub, Andrzej,
        Wojciech, Grzegorz, Mateusz, Adam, Marek, Kamil, Rafał, Jan, Stanisław""",
        exponent=0.7,
    ),
    "balkan": Pool(
        """Dragan, Nenad, Milan, Goran, Zoran, Marko, Nikola, Stefan, Aleksandar, Dejan,
        Milos, Vladimir, Ivan, Bojan, Darko, Luka, Slobodan, Srdjan""",
        exponent=0.7,
    ),
}
_EE_FEMALE: Final = {
    "russian_ukrainian": Pool(
        """Natalia, Elena, Tatiana, Olga, Svetlana, Irina, Ekaterina, Yulia, Anastasia,
        Oksana, Mariya, Anna, Ludmila, Galina, Valentina, Larisa, Ksenia, Viktoria,
        Daria, Polina, Sofiya, Alina""",
        exponent=0.7,
    ),
    "polish": Pool(
        """Anna, Katarzyna, Małgorzata, Agnieszka, Joanna, Magdalena, Monika, Ewa,
        Barbara, Aleksandra, Zofia, Natalia, Karolina, Justyna, Dorota, Beata""",
        exponent=0.7,
    ),
    "balkan": Pool(
        """Jelena, Dragana, Milica, Ana, Marija, Ivana, Snezana, Vesna, Gordana, Jovana,
        Tamara, Maja, Biljana, Suzana, Mirjana, Natasa""",
        exponent=0.7,
    ),
}
_GREEK_MALE: Final = Pool(
    """Konstantinos, Georgios, Dimitrios, Ioannis, Panagiotis, Vasilios, Nikolaos,
    Christos, Athanasios, Spyridon, Michail, Evangelos, Andreas, Emmanouil, Stavros,
    Theodoros, Alexandros, Petros""",
    exponent=0.7,
)
_GREEK_FEMALE: Final = Pool(
    """Maria, Eleni, Aikaterini, Vasiliki, Georgia, Sofia, Anastasia, Dimitra, Paraskevi,
    Konstantina, Angeliki, Evangelia, Christina, Despina, Athina, Irini""",
    exponent=0.7,
)
_ITALIAN_MALE: Final = Pool(
    """Giuseppe, Giovanni, Antonio, Francesco, Salvatore, Vincenzo, Domenico, Luigi,
    Pasquale, Rosario, Angelo, Carmelo, Michele, Marco, Luca, Alessandro, Matteo, Lorenzo,
    Andrea, Stefano""",
    exponent=0.7,
)
_ITALIAN_FEMALE: Final = Pool(
    """Maria, Giuseppina, Rosa, Anna, Concetta, Carmela, Antonietta, Francesca, Teresa,
    Lucia, Angela, Giovanna, Sofia, Giulia, Chiara, Alessia, Elena, Serena""",
    exponent=0.7,
)

# --------------------------------------------------------------------------------------
# Surnames.

_ANGLO_SURNAMES: Final = """Smith, Jones, Williams, Brown, Wilson, Taylor, Johnson, White,
Martin, Anderson, Thompson, Walker, Harris, Lee, Ryan, Robinson, Kelly, King, Davis,
Wright, Evans, Roberts, Green, Hall, Wood, Jackson, Clarke, Campbell, Mitchell, Murphy,
Edwards, Thomas, Hughes, Turner, Scott, Young, Morris, Cook, Allen, Baker, Stewart, Bell,
Collins, Morgan, James, Parker, Cooper, Hill, Moore, Ward, Bennett, Phillips, Clark,
Miller, Cox, Watson, Richardson, Russell, Shaw, Lewis, Carter, Davies, Marshall, Grant,
Kennedy, Harrison, Watts, Gibson, Graham, Hunt, Murray, Hamilton, Reid, Robertson,
Sullivan, O'Brien, Wallace, Fraser, McDonald, Lawrence, Ross, Ellis, Chapman, Webb,
Holmes, Mills, Simpson, Hart, Stevens, Black, Pearce, Byrne, Barnes, Gray, Henderson,
Knight, Burns, Butler, Jenkins, Palmer, Hayes, Fisher, Lynch, Doyle, Hunter, Dawson,
Reynolds, Walsh, O'Connor, Cunningham, Ferguson, Spencer, Armstrong, Matthews, Wells,
Burke, Quinn, Gordon, Fitzgerald, Brennan, Dunn, Lloyd, Rose, Day, Payne, Tucker, Lane,
Ford, Sharp, Porter, Mason, Rogers, Warren, Page, Barker, Harvey, Fletcher, Austin,
Holland, Bailey, Nolan, Mackenzie, Duncan, Hogan, Mahoney, Connolly, Keane, Riley, Daly,
Sweeney, Power, Moloney, McKenzie, MacLeod, Morrison, Boyd, Hay, Kerr, Carroll,
Crawford, Pollard, Price, Jennings, Bishop, Brooks, Pearson, Howard, Newman, Griffiths,
Coleman, Saunders, Rowe, Lambert, Foster, Barrett, Hopkins, Francis, Elliott, Holt,
Stone, Todd, Norris, Dixon, Rees, Owen, Bates, Potter, Dean, Willis, O'Neill, O'Sullivan,
McGrath, McCarthy, Gallagher, Kavanagh, Donnelly, Flanagan, Hennessy, McLaughlin,
Thornton, Whitfield, Ashby, Pritchard, Vaughan, Lowe, Abbott, Bradshaw, Cartwright"""
_ANGLO_PREFIXES: Final = _words(
    "Ash Brad Black Brook Cal Craw Dun Fair Hart Hol Kings Lang Mar Mid New Pem Red Stan "
    "Thorn Wake Wal West Whit Win Ather Bar Chel Dal Elm Gold Hal Hath Lyn Mel Nor Pres "
    "Rad Sel Sut Tam"
)
_ANGLO_SUFFIXES: Final = _words(
    "ford ley ton well wood worth field by combe ham hurst more stone bridge wick dale "
    "lock mere stead thorpe"
)
_HISPANIC_SURNAMES: Final = """García, Rodríguez, Martínez, Hernández, López, González,
Pérez, Sánchez, Ramírez, Torres, Flores, Rivera, Gómez, Díaz, Reyes, Morales, Cruz,
Ortiz, Gutiérrez, Chávez, Ramos, Ruiz, Álvarez, Mendoza, Castillo, Jiménez, Moreno,
Romero, Herrera, Medina, Aguilar, Vargas, Castro, Fernández, Guzmán, Muñoz, Rojas,
Vásquez, Salazar, Silva, Soto, Contreras, Núñez, Peña, Espinoza, Sandoval, Domínguez,
Vega, Navarro, Ríos, Acosta, Figueroa, Campos, Fuentes, Carrillo, Cortés, Delgado,
Estrada, Guerrero, Lara, Luna, Maldonado, Mejía, Miranda, Molina, Orozco, Pacheco,
Paredes, Ponce, Quintero, Rosales, Salinas, Santana, Santos, Suárez, Valdez, Velásquez,
Zamora, Cabrera, Cárdenas, Cervantes, Córdoba, Escobar, Ibarra, Juárez, de León, Marín,
Montoya, Nava, Ochoa, Pineda, Serrano, Trujillo, Valencia, Villarreal, de la Cruz,
del Río, Cisneros, Bustamante, Arellano, Benítez, Calderón, Galindo, Mora, Osorio,
Rangel, Solís, Tapia, Zúñiga, Bermúdez, Quiroga, Villalobos, Ayala, Barrios, Carrasco"""
_FILIPINO_SURNAMES: Final = """Santos, Reyes, Cruz, Bautista, dela Cruz, Garcia, Mendoza,
Ocampo, Torres, Tomas, Andrada, Castillo, Flores, Villanueva, Ramos, Castro, Rivera,
Aquino, Navarro, Salazar, Mercado, de Leon, Gonzales, Pascual, Domingo, Manalo, Soriano,
Dizon, Santiago, Lopez, Aguilar, Fernandez, Valdez, Gutierrez, Panganiban, Macaraeg,
Magbanua, Dimaculangan, Tolentino, Mangubat, Lacson, Sison, Quiambao, Evangelista,
Samonte, Mallari, Bernardo, Cabrera, de Guzman, Agustin, Padilla, Marquez, Villareal"""
_VIET_SURNAMES: Final = Pool(
    _words(
        "Nguyễn Trần Lê Phạm Hoàng Huỳnh Phan Vũ Võ Đặng Bùi Đỗ Hồ Ngô Dương Lý Trương "
        "Đinh Lâm Mai Lương Tô Cao Châu Quách Tạ La Thái"
    ),
    weights=[
        38,
        11,
        9.5,
        7,
        3,
        2,
        4.5,
        2,
        1.9,
        2.1,
        2,
        1.4,
        1.3,
        1.3,
        1.0,
        0.5,
        1.0,
        0.7,
        0.6,
        0.5,
        0.5,
        0.3,
        0.3,
        0.3,
        0.2,
        0.2,
        0.2,
        0.2,
    ],
)
_MANDARIN_SURNAMES: Final = Pool(
    _words(
        "Wang Li Zhang Liu Chen Yang Huang Zhao Wu Zhou Xu Sun Ma Zhu Hu Guo He Lin Luo Gao "
        "Zheng Liang Xie Song Tang Han Feng Deng Cao Peng Zeng Xiao Tian Dong Pan Yuan Cai "
        "Jiang Yu Du Ye Cheng Wei Su Lu Ding Ren Shen Yao Jin Fu Zhong Qian Bai"
    ),
    exponent=0.75,
)
_CANTONESE_SURNAMES: Final = Pool(
    _words(
        "Chan Wong Lee Cheung Leung Ho Ng Lau Lam Tang Yeung Chow Cheng Tsang Kwok Fung "
        "Tse Chu Yip Poon Tan Lim Teo Goh Ong Koh Chua Low Yap Mok Siu Szeto Kwan Choi"
    ),
    exponent=0.8,
)
_KOREAN_SURNAMES: Final = Pool(
    _words(
        "Kim Lee Park Choi Jung Kang Cho Yoon Jang Lim Han Oh Seo Shin Kwon Hwang Ahn Song "
        "Yoo Hong Jeon Ko Moon Yang Son Bae Baek Heo Nam Noh"
    ),
    weights=[
        21.5,
        14.7,
        8.4,
        4.7,
        4.3,
        2.3,
        2.1,
        2.1,
        2.0,
        1.7,
        1.5,
        1.5,
        1.5,
        1.5,
        1.4,
        1.4,
        1.4,
        1.4,
        1.3,
        1.1,
        1.1,
        0.9,
        0.9,
        0.9,
        0.8,
        0.8,
        0.8,
        0.6,
        0.6,
        0.5,
    ],
)
_KOREAN_SURNAME_VARIANTS: Final[dict[str, tuple[str, ...]]] = {
    "Kim": ("Gim",),
    "Lee": ("Yi", "Rhee", "Rhie"),
    "Park": ("Pak", "Bak"),
    "Choi": ("Choe", "Choy"),
    "Jung": ("Jeong", "Chung"),
    "Kang": ("Gang",),
    "Cho": ("Jo", "Joh"),
    "Yoon": ("Yun",),
    "Jang": ("Chang",),
    "Lim": ("Im", "Yim"),
    "Seo": ("Suh",),
    "Shin": ("Sin",),
    "Ahn": ("An",),
    "Yoo": ("Yu", "Ryu"),
    "Jeon": ("Chun", "Jun"),
    "Ko": ("Go", "Koh"),
    "Moon": ("Mun",),
    "Heo": ("Hur", "Huh"),
    "Noh": ("Roh",),
    "Baek": ("Paik", "Baik"),
    "Bae": ("Pae",),
}
_INDIAN_SURNAMES: Final = {
    "indian_gujarati": Pool(
        _words(
            "Patel Shah Desai Mehta Parikh Trivedi Bhatt Joshi Dave Modi Pandya Vyas Thakkar "
            "Chauhan Solanki Parmar Rana Amin Gandhi Doshi Sheth Panchal Mistry Raval"
        ),
        weights=[30, 10, 5, 5, 3, 3, 3, 3, 2.5, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1],
    ),
    "indian_punjabi": Pool(
        _words(
            "Sandhu Gill Dhillon Grewal Sidhu Brar Bains Sekhon Randhawa Cheema Virk Mann "
            "Sangha Bhullar Kang Dhaliwal Johal Atwal Hundal Aulakh"
        ),
        exponent=0.7,
    ),
    "indian_north": Pool(
        _words(
            "Sharma Gupta Kumar Verma Singh Agarwal Kapoor Malhotra Chopra Bhatia Arora Khanna "
            "Saxena Mishra Pandey Tiwari Yadav Chaudhary Srivastava Jain Das Ghosh Banerjee "
            "Chatterjee Mukherjee Sen Bose Roy Dutta Khan Ahmed Siddiqui Ansari Qureshi"
        ),
        exponent=0.8,
    ),
    "indian_south": Pool(
        _words(
            "Reddy Rao Naidu Iyer Iyengar Nair Pillai Menon Krishnan Subramanian Raman "
            "Shetty Hegde Kamath Pai Gowda Murthy Varma Kurian Thomas Joseph George"
        ),
        exponent=0.8,
    ),
}
_INDIAN_SURNAME_VARIANTS: Final[dict[str, tuple[str, ...]]] = {
    "Chaudhary": ("Choudhary", "Chaudhry", "Chowdhury"),
    "Agarwal": ("Aggarwal", "Agrawal"),
    "Banerjee": ("Banerji",),
    "Mukherjee": ("Mukherji",),
    "Chatterjee": ("Chatterji",),
    "Srivastava": ("Shrivastava",),
    "Dhillon": ("Dhilon",),
    "Subramanian": ("Subramaniam",),
    "Iyer": ("Ayyar",),
    "Siddiqui": ("Siddiqi", "Siddique"),
    "Qureshi": ("Kureshi", "Qureshy"),
}
_ARABIC_ROOTS: Final = Pool(
    _words(
        "Hassan Masri Sayed Ahmad Rahman Hussein Ali Omar Hamdan Nasser Mansour Aziz Karim "
        "Zein Shami Halabi Tamimi Jabri Obeidi Rifai Hakim Farah Khalil Saad Kassem Darwish "
        "Fayad Ghanem Hijazi Jaber Khatib Nahas Qasim Rashid Sabbagh Yassin Bitar Hamoud "
        "Moussa Harb Akkari Dib Merhi Rizk Sleiman Chahine Hamade Kanaan Wehbe Awad Barakat "
        "Daher Saleh Abboud Issa Najjar Zoabi Attar Hamdi Ibrahim Youssef Haddad"
    ),
    exponent=0.7,
)
#: Arabic family names with a prefix: (prefix, its other transliteration, share).
#: Arabic family-name prefixes: (prefix, its other transliteration, share of families,
#: the roots it goes with: None for any family root).
_ABDUL_ROOTS: Final = Pool(
    _words("Karim Aziz Rahman Hamid Latif Majid Razzaq Malek Nour Hadi Jabbar Wahab Salam Qader"),
    exponent=0.6,
)
_BIN_ROOTS: Final = Pool(
    _words("Ali Saleh Omar Hassan Youssef Ahmad Khalid Said Zayed"), exponent=0.6
)
_ABU_ROOTS: Final = Pool(_words("Ali Hamad Khalil Saleh Zeid Shaar Hamdan Taha Eid"), exponent=0.6)
_ARABIC_PREFIXES: Final[tuple[tuple[str, str, float, Pool | None], ...]] = (
    ("Al", "El", 0.26, None),
    ("El", "Al", 0.12, None),
    ("Abdul", "Abdel", 0.07, _ABDUL_ROOTS),
    ("Bin", "Ben", 0.03, _BIN_ROOTS),
    ("Abu", "Abou", 0.04, _ABU_ROOTS),
)
_ARABIC_PREFIX_ROOTS: Final[frozenset[str]] = frozenset(
    {*_ARABIC_ROOTS.items, *_ABDUL_ROOTS.items, *_BIN_ROOTS.items, *_ABU_ROOTS.items}
)
_LEBANESE_SURNAMES: Final = """Khoury, Haddad, Nassar, Saad, Karam, Habib, Issa, Mansour,
Chahine, Tannous, Bou Saab, Abi Nader, Sfeir, Gemayel, Daou, Rahme, Frangieh, Aoun,
Matta, Hanna, Najjar, Maalouf, Azar, Nakhle, Salameh, Abou Jaoude, Kassis, Semaan"""
_LEBANESE_VARIANTS: Final[dict[str, tuple[str, ...]]] = {
    "Khoury": ("El-Khoury", "Khouri", "El Khoury"),
    "Chahine": ("Shaheen", "Chahin"),
    "Haddad": ("Hadad",),
    "Bou Saab": ("Bousaab", "Abou Saab"),
    "Abi Nader": ("Abinader", "Abi-Nader"),
    "Abou Jaoude": ("Abou-Jaoude", "Aboujaoude", "Abu Jawdeh"),
    "Rahme": ("Rahmeh", "Rahmé"),
    "Salameh": ("Salame", "Salamé"),
    "Tannous": ("Tanous",),
}
_RUSSIAN_SURNAMES: Final = """Ivanov, Smirnov, Kuznetsov, Popov, Vasiliev, Petrov, Sokolov,
Mikhailov, Novikov, Fedorov, Morozov, Volkov, Alekseev, Lebedev, Semenov, Egorov, Pavlov,
Kozlov, Stepanov, Nikolaev, Orlov, Andreev, Makarov, Zaitsev, Solovyov, Borisov,
Romanov, Vorobyov, Belov, Frolov, Medvedev, Grigoriev, Kovalev, Titov, Kiselev,
Shevchenko, Kovalenko, Bondarenko, Tkachenko, Kravchenko, Oliynyk, Shevchuk, Koval,
Polishchuk, Boyko, Tkachuk, Melnyk, Savchenko, Rudenko, Moroz, Lysenko, Marchenko,
Petrenko, Kovalchuk, Ponomarenko, Klymenko, Pavlenko, Levchenko, Kuzmenko, Zhuravsky"""
_EE_ROOTS: Final = _words(
    "Bel Chern Dub Grom Kal Kor Kras Lis Mal Nov Ost Pol Rud Sav Sem Tar Vish Vol Zhur "
    "Kot Gol Lub Mir Prok Step Svir Tish Yar Zel Bor Hryn Kuch Lev Myk Pyl Bar Dan Hor"
)
_EE_SUFFIXES: Final = _words("enko chuk ov in sky ovich ak uk ets ko")
_POLISH_SURNAMES: Final = """Nowak, Kowalski, Wiśniewski, Wójcik, Kowalczyk, Kamiński,
Lewandowski, Zieliński, Szymański, Woźniak, Dąbrowski, Kozłowski, Jankowski, Mazur,
Kwiatkowski, Krawczyk, Piotrowski, Grabowski, Nowakowski, Pawłowski, Michalski, Nowicki,
Adamczyk, Dudek, Zając, Wieczorek, Jabłoński, Król, Majewski, Olszewski"""
_BALKAN_SURNAMES: Final = """Jovanović, Petrović, Nikolić, Marković, Đorđević, Stojanović,
Ilić, Stanković, Pavlović, Milošević, Popović, Horvat, Kovačević, Babić, Marić, Novak,
Jurić, Knežević, Vuković, Lukić, Perić, Tomić, Kostić, Mitrović, Savić, Živković"""
_GREEK_SURNAMES: Final = """Papadopoulos, Georgiou, Nikolaidis, Dimitriou, Konstantinidis,
Papadakis, Pappas, Karagiannis, Vlachos, Angelopoulos, Oikonomou, Makris, Christodoulou,
Ioannidis, Alexiou, Antoniou, Vasileiou, Panagiotopoulos, Athanasiou, Kyriakou, Stavrou,
Michailidis, Theodorou, Papanikolaou, Giannopoulos, Katsaros, Petridis, Raptis, Mavros,
Kostopoulos, Lambropoulos, Tsoukalas, Zervas, Spiropoulos, Anagnostou, Christou, Kallis"""
_GREEK_ROOTS: Final = _words(
    "Papa Kara Nikol Georg Dimitr Konstant Vasil Christ Athan Panag Stavr Theodor Mich "
    "Ioann Kyriak Spyr Manol Evang Yianak Lamb"
)
_GREEK_SUFFIXES: Final = _words("opoulos idis akis ou as")
_ITALIAN_SURNAMES: Final = """Rossi, Russo, Ferrari, Esposito, Bianchi, Romano, Colombo,
Ricci, Marino, Greco, Bruno, Gallo, Conti, De Luca, Costa, Giordano, Mancini, Rizzo,
Lombardi, Moretti, Barbieri, Fontana, Santoro, Mariani, Rinaldi, Caruso, Ferrara, Galli,
Martini, Leone, Longo, Gentile, Martinelli, Vitale, Lombardo, Serra, Coppola, De Santis,
D'Angelo, Marchetti, Parisi, Villa, Conte, Ferraro, Ferri, Fabbri, Bianco, Marini,
Grasso, Valentini, Messina, Sala, De Angelis, Gatti, Pellegrini, Palumbo, Farina, Rizzi,
Monti, Cattaneo, Morelli, Amato, Silvestri, Mazza, Testa, Grassi, Carbone, Giuliani,
Benedetti, Barone, Caputo, Guerra, Palmieri, Bernardi, Martino, Fiore, De Rosa,
Ferretti, Bellini, Basile, Battaglia, Sartori, Neri, Pagano, Ruggiero, Sorrentino,
D'Amico, Orlando, Di Stefano, Di Pietro, La Rosa, Lo Presti"""

_BIRTH_ERA_BOUNDS: Final = (1955, 1980, 2000, 9999)


def _era(birth_year: int) -> int:
    for bound in _BIRTH_ERA_BOUNDS:
        if birth_year < bound:
            return bound
    return _BIRTH_ERA_BOUNDS[-1]


def _particle_forms(name: str) -> tuple[str, ...]:
    """A surname with a particle and the spacings records give it (De Luca, DeLuca, ...)."""
    if name.startswith(("O'", "D'")):
        head, tail = name[:1], name[2:]
        return (name, f"{head}{tail}", f"{head} {tail}", f"{head}{tail.lower()}")
    parts = name.split(" ")
    if len(parts) == 1:
        return (name,)
    joined = "".join(parts)
    title = parts[0].capitalize() + "".join(p.lower() for p in parts[1:])
    spaced_title = " ".join(p.capitalize() for p in parts)
    hyphen = "-".join(parts)
    return tuple(dict.fromkeys((name, spaced_title, joined, title, hyphen)))


def _ee_variants(name: str) -> tuple[str, ...]:
    """Transliteration spellings of an Eastern European surname (the name first)."""
    ascii_name = ascii_fold(name)
    out = [name]
    if ascii_name != name:
        out.append(ascii_name)
        if ascii_name.endswith("ic"):
            out.append(ascii_name + "h")
    rules = (
        ("sky", "ski"),
        ("skiy", "sky"),
        ("ski", "sky"),
        ("ov", "off"),
        ("ev", "yev"),
        ("iev", "yev"),
        ("enko", "enco"),
        ("yk", "ik"),
        ("ch", "tch"),
        ("Zh", "J"),
        ("Kh", "H"),
        ("y", "i"),
    )
    for old, new in rules:
        if old in ascii_name:
            out.append(ascii_name.replace(old, new, 1))
        if len(out) >= 4:
            break
    return tuple(dict.fromkeys(out))


def feminine(surname: str, tradition: str) -> str:
    """The feminine form of a masculine surname where the tradition inflects it."""
    if tradition == "russian_ukrainian":
        for masc, fem in (("sky", "skaya"), ("ov", "ova"), ("ev", "eva"), ("in", "ina")):
            if surname.endswith(masc):
                return surname[: -len(masc)] + fem
        return surname
    if tradition == "polish":
        for masc, fem in (("ski", "ska"), ("cki", "cka"), ("dzki", "dzka")):
            if surname.endswith(masc):
                return surname[: -len(masc)] + fem
        return surname
    if tradition == "greek":
        for masc, fem in (("opoulos", "opoulou"), ("idis", "idou"), ("os", "ou"), ("as", "a")):
            if surname.endswith(masc):
                return surname[: -len(masc)] + fem
        if surname.endswith("is") and not surname.endswith("akis"):
            return surname[:-1]
        return surname
    return surname


class NameBank:
    """Samples given names, middle names and family names per tradition."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        anglo = _split(_ANGLO_SURNAMES)
        tail = [p + s for p in _ANGLO_PREFIXES for s in _ANGLO_SUFFIXES]
        rng.shuffle(tail)
        self._anglo_surnames = Pool(anglo + tail, exponent=0.62)
        self._hispanic_surnames = Pool(_HISPANIC_SURNAMES, exponent=0.85)
        self._filipino_surnames = Pool(_FILIPINO_SURNAMES, exponent=0.75)
        self._lebanese_surnames = Pool(_LEBANESE_SURNAMES, exponent=0.7)
        ee_tail = [r + s for r in _EE_ROOTS for s in _EE_SUFFIXES]
        rng.shuffle(ee_tail)
        self._russian_surnames = Pool(_split(_RUSSIAN_SURNAMES) + ee_tail, exponent=0.7)
        self._polish_surnames = Pool(_POLISH_SURNAMES, exponent=0.7)
        self._balkan_surnames = Pool(_BALKAN_SURNAMES, exponent=0.7)
        greek_tail = [r + s for r in _GREEK_ROOTS for s in _GREEK_SUFFIXES]
        rng.shuffle(greek_tail)
        self._greek_surnames = Pool(_split(_GREEK_SURNAMES) + greek_tail, exponent=0.7)
        self._italian_surnames = Pool(_ITALIAN_SURNAMES, exponent=0.75)

    # -- given names ------------------------------------------------------------------

    def given(self, tradition: str, sex: str, birth_year: int, *, local_born: bool) -> Given:
        """A given name for a person of ``tradition`` born in ``birth_year``.

        ``local_born`` children of migrant families often carry an English given name.
        """
        rng = self.rng
        female = sex == "f"
        english_share = _ENGLISH_GIVEN_SHARE.get(tradition, 0.0) if local_born else 0.0
        if tradition != "anglo" and rng.random() < english_share:
            return self._with_variants(self._anglo(female, birth_year))
        name: str
        alias = ""
        if tradition == "anglo":
            name = self._anglo(female, birth_year)
        elif tradition == "vietnamese":
            name = (_VIET_FEMALE if female else _VIET_MALE).pick(rng)
            if rng.random() < (0.25 if birth_year < 1990 else 0.35):
                alias = self._english_alias(female)
        elif tradition == "chinese_mandarin":
            pool = _MANDARIN_SYLLABLES_FEMALE if female else _MANDARIN_SYLLABLES_MALE
            if rng.random() < 0.25:
                name = pool.pick(rng)
            else:
                first, second = pool.pick(rng), pool.pick(rng)
                name = first + second.lower()
                return Given(
                    forms=(name, f"{first} {second}", f"{first}-{second}"),
                    alias=self._english_alias(female) if rng.random() < 0.45 else "",
                )
            alias = self._english_alias(female) if rng.random() < 0.45 else ""
        elif tradition == "chinese_cantonese":
            first, second = _CANTONESE_SYLLABLES.pick(rng), _CANTONESE_SYLLABLES.pick(rng)
            return Given(
                forms=(f"{first} {second}", f"{first}-{second}", first + second.lower()),
                alias=self._english_alias(female) if rng.random() < 0.7 else "",
            )
        elif tradition == "korean":
            name = (_KOREAN_FEMALE if female else _KOREAN_MALE).pick(rng)
            first, second = name.split("-")
            forms: tuple[str, ...] = (
                name,
                first + second,
                f"{first} {second.capitalize()}",
                name.title(),
            )
            if rng.random() < 0.3:
                forms = (first + second, *[f for f in forms if f != first + second])
            return Given(
                forms=tuple(dict.fromkeys(forms)),
                alias=self._english_alias(female) if rng.random() < 0.4 else "",
            )
        elif tradition.startswith("indian"):
            name = (_INDIAN_FEMALE if female else _INDIAN_MALE)[tradition].pick(rng)
        elif tradition == "hispanic":
            if rng.random() < 0.28:
                name = (_HISPANIC_COMPOUND_FEMALE if female else _HISPANIC_COMPOUND_MALE).pick(rng)
            else:
                name = (_HISPANIC_FEMALE if female else _HISPANIC_MALE).pick(rng)
        elif tradition == "filipino":
            name = (_FILIPINO_FEMALE if female else _FILIPINO_MALE).pick(rng)
        elif tradition == "arabic":
            name = (_ARABIC_FEMALE if female else _ARABIC_MALE).pick(rng)
        elif tradition == "lebanese_christian":
            name = (_LEBANESE_CHRISTIAN_FEMALE if female else _LEBANESE_CHRISTIAN_MALE).pick(rng)
        elif tradition in _EE_MALE:
            name = (_EE_FEMALE if female else _EE_MALE)[tradition].pick(rng)
        elif tradition == "greek":
            name = (_GREEK_FEMALE if female else _GREEK_MALE).pick(rng)
        elif tradition == "italian":
            name = (_ITALIAN_FEMALE if female else _ITALIAN_MALE).pick(rng)
        else:  # pragma: no cover - every tradition is handled above
            raise ValueError(f"unknown tradition {tradition}")
        given = self._with_variants(name)
        return Given(forms=given.forms, nicknames=given.nicknames, alias=alias)

    def _anglo(self, female: bool, birth_year: int) -> str:
        table = _ANGLO_FEMALE if female else _ANGLO_MALE
        era = _era(birth_year)
        # a fifth of people carry a name from the neighbouring generation
        if self.rng.random() < 0.2:
            eras = list(_BIRTH_ERA_BOUNDS)
            index = eras.index(era) + self.rng.choice((-1, 1))
            era = eras[min(max(index, 0), len(eras) - 1)]
        return table[era].pick(self.rng)

    def _english_alias(self, female: bool) -> str:
        return (_ENGLISH_ALIAS_FEMALE if female else _ENGLISH_ALIAS_MALE).pick(self.rng)

    def _with_variants(self, name: str) -> Given:
        """The person's own spelling drawn from the name's variant group, then the others."""
        group = _VARIANTS.get(name, (name,))
        others = [g for g in group if g != name]
        # Anglo spellings have one dominant form; transliterations spread more evenly
        keep = 0.88 if name in _ANGLO_GIVEN_NAMES else 0.5
        own = name if not others or self.rng.random() < keep else self.rng.choice(others)
        forms = (own, *[g for g in (name, *others) if g != own])
        nicknames = _NICKNAMES.get(name, ()) or _NICKNAMES.get(forms[0], ())
        return Given(forms=forms, nicknames=nicknames)

    def any_given(self, tradition: str, sex: str, birth_year: int) -> str:
        """A bare given name (a father's name used as a middle name or patronymic)."""
        return self.given(tradition, sex, birth_year, local_born=False).own

    # -- middle names -----------------------------------------------------------------

    def middles(
        self,
        tradition: str,
        sex: str,
        birth_year: int,
        given: Given,
        *,
        father_given: str,
        mother_maiden: str,
    ) -> tuple[str, ...]:
        """Middle names as the tradition gives them (father's name, mother's surname, ...)."""
        rng = self.rng
        female = sex == "f"
        if tradition == "anglo" or (
            tradition not in ("vietnamese", "filipino", "korean") and _is_anglo_name(given.own)
        ):
            draw = rng.random()
            count = 1 if draw < 0.78 else 2 if draw < 0.86 else 0
            chosen: list[str] = []
            while len(chosen) < count:
                middle = self._anglo(female, birth_year)
                if middle not in chosen and middle not in given.forms:
                    chosen.append(middle)
            return tuple(chosen)
        if tradition == "vietnamese":
            if rng.random() < 0.9:
                return ((_VIET_MIDDLE_FEMALE if female else _VIET_MIDDLE_MALE).pick(rng),)
            return ()
        if tradition == "chinese_cantonese" and given.alias and rng.random() < 0.5:
            return ()
        if tradition in ("chinese_mandarin", "chinese_cantonese", "korean"):
            return ()
        if tradition == "indian_gujarati":
            return (father_given,) if rng.random() < 0.6 else ()
        if tradition == "indian_punjabi":
            return ()  # Singh / Kaur is handled with the surname
        if tradition.startswith("indian"):
            return (self.any_given(tradition, sex, birth_year),) if rng.random() < 0.15 else ()
        if tradition == "hispanic":
            return ()  # compound given names and the second surname play that role
        if tradition == "filipino":
            return (mother_maiden,) if mother_maiden and rng.random() < 0.85 else ()
        if tradition == "arabic":
            return (father_given,) if rng.random() < 0.5 else ()
        if tradition == "lebanese_christian":
            return (father_given,) if rng.random() < 0.3 else ()
        if tradition == "russian_ukrainian":
            if rng.random() < 0.4:
                return (_patronymic(father_given, female),)
            return ()
        if tradition in ("polish", "balkan", "greek", "italian"):
            if rng.random() < 0.3:
                if tradition == "greek":
                    return (father_given,)
                return (self.any_given(tradition, sex, birth_year),)
            return ()
        return ()

    # -- surnames ---------------------------------------------------------------------

    def family_name(self, tradition: str) -> str:
        """A (masculine) family name for a new family of ``tradition``."""
        rng = self.rng
        if tradition == "anglo":
            return self._anglo_surnames.pick(rng)
        if tradition == "vietnamese":
            return _VIET_SURNAMES.pick(rng)
        if tradition == "chinese_mandarin":
            return _MANDARIN_SURNAMES.pick(rng)
        if tradition == "chinese_cantonese":
            return _CANTONESE_SURNAMES.pick(rng)
        if tradition == "korean":
            return _KOREAN_SURNAMES.pick(rng)
        if tradition == "indian_punjabi":
            return _INDIAN_SURNAMES[tradition].pick(rng) if rng.random() < 0.6 else ""
        if tradition == "indian_south" and rng.random() < 0.45:
            return ""  # no family name: the father's given name serves (patronymic)
        if tradition.startswith("indian"):
            return _INDIAN_SURNAMES[tradition].pick(rng)
        if tradition == "hispanic":
            return self._hispanic_surnames.pick(rng)
        if tradition == "filipino":
            return self._filipino_surnames.pick(rng)
        if tradition == "arabic":
            draw = rng.random()
            for prefix, _other, share, roots in _ARABIC_PREFIXES:
                if draw < share:
                    root = (roots or _ARABIC_ROOTS).pick(rng)
                    # families write the prefix with a hyphen, a space or joined on
                    joiner = rng.choices(("-", " ", ""), weights=(0.45, 0.35, 0.2))[0]
                    return f"{prefix}{joiner}{root if joiner else root.lower()}"
                draw -= share
            return _ARABIC_ROOTS.pick(rng)
        if tradition == "lebanese_christian":
            return self._lebanese_surnames.pick(rng)
        if tradition == "russian_ukrainian":
            return self._russian_surnames.pick(rng)
        if tradition == "polish":
            return self._polish_surnames.pick(rng)
        if tradition == "balkan":
            return self._balkan_surnames.pick(rng)
        if tradition == "greek":
            return self._greek_surnames.pick(rng)
        if tradition == "italian":
            return self._italian_surnames.pick(rng)
        raise ValueError(f"unknown tradition {tradition}")

    def hispanic_surname(self) -> str:
        return self._hispanic_surnames.pick(self.rng)

    def surname(
        self,
        tradition: str,
        sex: str,
        family: str,
        *,
        maternal: str = "",
        father_given: str = "",
    ) -> Surname:
        """The surname a person of ``tradition`` and ``sex`` holds in family ``family``."""
        rng = self.rng
        if tradition == "hispanic":
            style = rng.choices((0, 1, 2), weights=(0.55, 0.33, 0.12))[0]
            return Surname(kind="hispanic", forms=(family,), maternal=maternal, style=style)
        if tradition == "indian_punjabi":
            marker = "Kaur" if sex == "f" else "Singh"
            style = rng.choices((0, 1, 2), weights=(0.5, 0.25, 0.25))[0] if family else 0
            return Surname(kind="sikh", forms=(marker,), family=family, style=style)
        if tradition == "indian_south" and not family:
            return Surname(kind="patronymic", forms=(father_given or "Kumar",))
        return Surname(kind="plain", forms=plain_forms(family, tradition, sex), family=family)


def plain_forms(family: str, tradition: str, sex: str) -> tuple[str, ...]:
    """The spellings of a single family name: the person's own (inflected) form first."""
    own = feminine(family, tradition) if sex == "f" else family
    variants: list[str] = [own]
    if tradition in ("russian_ukrainian", "polish", "balkan"):
        variants.extend(_ee_variants(own))
    elif tradition == "korean":
        variants.extend(_KOREAN_SURNAME_VARIANTS.get(family, ()))
    elif tradition.startswith("indian"):
        variants.extend(_INDIAN_SURNAME_VARIANTS.get(family, ()))
    elif tradition == "lebanese_christian":
        variants.extend(_LEBANESE_VARIANTS.get(family, ()))
        variants.extend(_particle_forms(family))
    elif tradition == "arabic":
        variants.extend(_arabic_forms(family))
    elif tradition == "vietnamese":
        variants.append(ascii_fold(family))
        if family in ("Vũ", "Võ"):
            variants.append("Vo" if family == "Vũ" else "Vu")
    else:
        variants.extend(_particle_forms(family))
    if own != family:
        variants.append(family)  # the masculine form, written by systems that ignore gender
    return tuple(dict.fromkeys(variants))


def _arabic_forms(family: str) -> tuple[str, ...]:
    """Spellings of an Arabic family name with a prefix (the family's own first): hyphen,
    space, joined, the prefix's other transliteration, the prefix dropped."""
    for prefix, other, _share, _roots in _ARABIC_PREFIXES:
        if not family.startswith(prefix):
            continue
        rest = family[len(prefix) :].lstrip("- ")
        root = rest[:1].upper() + rest[1:]
        if root not in _ARABIC_PREFIX_ROOTS:
            continue
        spellings = (
            f"{prefix}-{root}",
            f"{prefix} {root}",
            f"{prefix}{root.lower()}",
            f"{other}-{root}",
            f"{other} {root}",
            root,
        )
        return (family, *[f for f in spellings if f != family])
    return (family,)


_ENGLISH_GIVEN_SHARE: Final[dict[str, float]] = {
    "vietnamese": 0.45,
    "chinese_mandarin": 0.5,
    "chinese_cantonese": 0.55,
    "korean": 0.35,
    "indian_gujarati": 0.08,
    "indian_punjabi": 0.05,
    "indian_north": 0.1,
    "indian_south": 0.08,
    "hispanic": 0.15,
    "filipino": 0.45,
    "arabic": 0.06,
    "lebanese_christian": 0.4,
    "russian_ukrainian": 0.2,
    "polish": 0.25,
    "balkan": 0.15,
    "greek": 0.3,
    "italian": 0.35,
}

_ANGLO_GIVEN_NAMES: Final[frozenset[str]] = frozenset(
    name for table in (_ANGLO_MALE, _ANGLO_FEMALE) for pool in table.values() for name in pool.items
)


def _is_anglo_name(name: str) -> bool:
    """Whether a given name is one of the Anglo lists (or a spelling of one)."""
    return any(form in _ANGLO_GIVEN_NAMES for form in _VARIANTS.get(name, (name,)))


def _patronymic(father_given: str, female: bool) -> str:
    """A Russian patronymic from the father's given name (Ivan -> Ivanovich / Ivanovna)."""
    base = ascii_fold(father_given)
    if base.endswith(("i", "y")):
        stem = base[:-1] + "ev"
    elif base.endswith("a"):
        stem = base[:-1] + "ov"
    else:
        stem = base + "ov"
    return stem + ("na" if female else "ich")

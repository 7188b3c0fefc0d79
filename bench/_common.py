"""What the benchmarks share: a throwaway database, synthetic text, percentiles, output.

Not a benchmark itself; `bench/embeddings.py`, `bench/retrieval.py` and `bench/turn.py` import it.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

from store import embedded, vector_partitions
from store.database import DEFAULT_DATA_DIR

ROOT = Path(__file__).resolve().parent.parent

# Offline and quiet, like scripts/dev.py: no tracing, analytics or version checks.
OFFLINE_ENV = {
    "LANGSMITH_TRACING": "false",
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    "LANGGRAPH_NO_VERSION_CHECK": "true",
    "HF_HUB_OFFLINE": "1",
}


VECTORS_HEAP = f"(SELECT sum(pg_table_size(id)) FROM ({vector_partitions.TABLES}) tables)"
VECTORS_INDEXES = f"(SELECT sum(pg_indexes_size(id)) FROM ({vector_partitions.TABLES}) tables)"
"""SQL: the vectors' table and index bytes, with its partitions' (a partitioned table's own size
is 0)."""


def offline_env() -> None:
    """Set the offline environment for this process (before the project's code reads it)."""
    os.environ.update(OFFLINE_ENV)


def default_data_dir() -> Path:
    """The embedded cluster the project uses: ENGRAM_DATA_DIR or `.engram/postgres`."""
    return ROOT / (os.environ.get("ENGRAM_DATA_DIR", "").strip() or DEFAULT_DATA_DIR)


def log(message: str) -> None:
    """Progress goes to stderr, so stdout carries only the result."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def emit(result: dict[str, Any]) -> None:
    """The result: one JSON line on stdout."""
    print(json.dumps(result, separators=(",", ":")), flush=True)


def percentiles_ms(seconds: Sequence[float], prefix: str) -> dict[str, float]:
    """p50, p95 and mean of durations given in seconds, in ms, keyed `<prefix>_ms_p50` etc."""
    values = np.asarray(seconds, dtype=np.float64) * 1000.0
    if values.size == 0:
        return {}
    return {
        f"{prefix}_ms_p50": round(float(np.percentile(values, 50)), 2),
        f"{prefix}_ms_p95": round(float(np.percentile(values, 95)), 2),
        f"{prefix}_ms_mean": round(float(values.mean()), 2),
    }


def with_dbname(url: str, dbname: str) -> str:
    """The libpq URL with its database replaced."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    info["dbname"] = dbname
    return psycopg.conninfo.make_conninfo("", **info)


@asynccontextmanager
async def database_url_set(url: str) -> AsyncIterator[None]:
    """DATABASE_URL points at `url` inside the block (the factories read it), restored after."""
    previous = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = url
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("DATABASE_URL", None)
        else:
            os.environ["DATABASE_URL"] = previous


@asynccontextmanager
async def fresh_database(
    label: str, *, data_dir: Path, keep: bool = False
) -> AsyncIterator[tuple[str, str]]:
    """Create `engram_bench_<label>_<random>` on the embedded Postgres and point DATABASE_URL at it.

    Args:
        label: part of the database name, e.g. the benchmark's name.
        data_dir: the embedded cluster's folder (started if it is not running).
        keep: leave the database in place afterwards (its name is logged).

    Yields:
        (database URL, admin URL).
    """
    admin = await asyncio.to_thread(embedded.ensure_running, data_dir)
    name = f"engram_bench_{label}_{uuid.uuid4().hex[:8]}"
    async with await psycopg.AsyncConnection.connect(admin, autocommit=True) as conn:
        await conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_dbname(admin, name)
    log(f"database {name} created")
    try:
        async with database_url_set(url):
            yield url, admin
    finally:
        if keep:
            log(f"database {name} kept (--keep): {url}")
        else:
            async with await psycopg.AsyncConnection.connect(admin, autocommit=True) as conn:
                await conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
            log(f"database {name} dropped")


@asynccontextmanager
async def named_database(label: str, *, data_dir: Path) -> AsyncIterator[tuple[str, bool]]:
    """`engram_bench_<label>` on the embedded Postgres, created if missing, never dropped.

    For tables that take minutes to build: the caller names the database after everything the
    build depends on, fills it once, and later runs measure the same tables.

    Yields:
        (database URL, whether it was created now).
    """
    admin = await asyncio.to_thread(embedded.ensure_running, data_dir)
    name = f"engram_bench_{label}"
    async with await psycopg.AsyncConnection.connect(admin, autocommit=True) as conn:
        found = await (await conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (name,))).fetchone()
        if found is None:
            await conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_dbname(admin, name)
    log(f"database {name} {'created' if found is None else 'reused'}")
    async with database_url_set(url):
        yield url, found is None


def machine() -> dict[str, Any]:
    """The CPU model, cores, memory and load average (other work skews timings), for the record."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "mem_gib": mem_gib,
            "python": sys.version.split()[0], "loadavg_at_end": os.getloadavg()[0]}


# --- Synthetic vocabulary ------------------------------------------------------------------------

CITIES = [
    "Lisbon", "Porto", "Madrid", "Valencia", "Seville", "Barcelona", "Lyon", "Marseille", "Paris",
    "Bordeaux", "Berlin", "Hamburg", "Munich", "Leipzig", "Vienna", "Graz", "Zurich", "Geneva",
    "Milan", "Turin", "Naples", "Bologna", "Athens", "Thessaloniki", "Warsaw", "Krakow", "Prague",
    "Brno", "Budapest", "Bucharest", "Sofia", "Oslo", "Bergen", "Stockholm", "Gothenburg",
    "Copenhagen", "Aarhus", "Helsinki", "Tallinn", "Riga", "Vilnius", "Dublin", "Cork",
    "Edinburgh", "Glasgow", "Manchester", "Leeds", "Bristol", "London", "Amsterdam", "Utrecht",
    "Rotterdam", "Brussels", "Ghent", "Antwerp", "Toronto", "Montreal", "Vancouver", "Calgary",
    "Boston", "Chicago", "Denver", "Austin", "Seattle", "Portland", "Atlanta", "Miami", "Tokyo",
    "Osaka", "Kyoto", "Seoul", "Busan", "Taipei", "Singapore", "Sydney", "Melbourne", "Auckland",
    "Wellington", "Cape Town", "Nairobi", "Lagos", "Accra", "Cairo", "Mexico City", "Bogota",
    "Lima", "Santiago", "Buenos Aires", "Montevideo", "Sao Paulo",
]
COUNTRIES = [
    "Portugal", "Spain", "France", "Germany", "Austria", "Switzerland", "Italy", "Greece", "Poland",
    "Czechia", "Hungary", "Romania", "Norway", "Sweden", "Denmark", "Finland", "Estonia", "Ireland",
    "Scotland", "the Netherlands", "Belgium", "Canada", "the United States", "Japan", "South Korea",
    "Taiwan", "Vietnam", "Thailand", "Australia", "New Zealand", "Kenya", "Morocco", "Egypt",
    "Mexico", "Colombia", "Peru", "Chile", "Argentina", "Brazil", "Iceland",
]
LANGUAGES = [
    "Spanish", "French", "German", "Italian", "Portuguese", "Japanese", "Korean", "Mandarin",
    "Dutch", "Swedish", "Norwegian", "Polish", "Greek", "Turkish", "Arabic", "Hindi", "Russian",
    "Finnish", "Czech", "Hungarian",
]
FOODS = [
    "sushi", "ramen", "pad thai", "tacos", "burritos", "lasagna", "risotto", "pizza margherita",
    "paella", "croissants", "falafel", "hummus", "shakshuka", "pho", "bibimbap", "dumplings",
    "curry", "biryani", "goulash", "pierogi", "moussaka", "ceviche", "empanadas", "fish and chips",
    "bagels", "pancakes", "waffles", "oatmeal", "greek salad", "caesar salad", "lentil soup",
    "mushroom soup", "grilled salmon", "roast chicken", "steak", "tofu stir fry", "dark chocolate",
    "cheesecake", "apple pie", "tiramisu", "gelato", "blue cheese", "olives", "avocado toast",
    "kimchi", "miso soup", "gnocchi", "carbonara", "spinach", "brussels sprouts", "cilantro",
    "anchovies", "liver", "okra", "eggplant", "beetroot",
]
DRINKS = [
    "espresso", "flat white", "cappuccino", "filter coffee", "green tea", "black tea", "oolong",
    "matcha", "rooibos", "chamomile tea", "hot chocolate", "sparkling water", "orange juice",
    "kombucha", "red wine", "white wine", "craft beer", "cider", "lemonade", "oat milk lattes",
]
ALLERGENS = [
    "peanuts", "tree nuts", "shellfish", "shrimp", "eggs", "milk", "soy", "wheat", "sesame",
    "penicillin", "cats", "dogs", "pollen", "dust mites", "latex", "bee stings", "strawberries",
    "kiwi", "mustard", "celery",
]
PETS = ["dog", "cat", "parrot", "rabbit", "hamster", "turtle", "goldfish", "guinea pig",
        "ferret", "horse", "gecko", "canary"]
PET_NAMES = [
    "Max", "Bella", "Luna", "Charlie", "Milo", "Coco", "Rocky", "Daisy", "Oliver", "Lola", "Leo",
    "Nala", "Simba", "Pepper", "Ziggy", "Mochi", "Biscuit", "Pickles", "Nugget", "Waffles",
    "Shadow", "Ginger", "Oscar", "Poppy", "Hazel", "Juniper", "Pixel", "Tofu", "Bruno", "Olive",
]
PEOPLE = [
    "Alice", "Bruno", "Chen", "Diana", "Emeka", "Fatima", "Giulia", "Hiro", "Ines", "Jonas",
    "Kofi", "Lena", "Mateo", "Nadia", "Omar", "Priya", "Quentin", "Rosa", "Sven", "Tara", "Umar",
    "Vera", "Wei", "Ximena", "Yusuf", "Zoe", "Marta", "Pavel", "Aiko", "Lars",
]
RELATIVES = ["mother", "father", "sister", "brother", "grandmother", "grandfather", "aunt",
             "uncle", "cousin", "daughter", "son", "partner", "wife", "husband", "best friend",
             "niece", "nephew", "godmother"]
JOBS = [
    "software engineer", "data scientist", "nurse", "teacher", "architect", "accountant",
    "graphic designer", "product manager", "electrician", "pharmacist", "journalist", "chef",
    "lawyer", "civil engineer", "veterinarian", "physiotherapist", "photographer", "translator",
    "carpenter", "dentist", "biologist", "librarian", "pilot", "economist", "UX researcher",
    "site reliability engineer", "marketing analyst", "social worker", "paramedic", "baker",
]
COMPANIES = [
    "Acme", "Globex", "Initech", "Umbrella Labs", "Stark Logistics", "Wayne Health", "Hooli",
    "Pied Piper", "Vandelay Industries", "Soylent Foods", "Tyrell Systems", "Cyberdyne",
    "Wonka Confectionery", "Oceanic Air", "Monarch Bank", "Gringotts Finance", "Aperture Science",
    "Blue Sun", "Massive Dynamic", "Nakatomi Trading", "the city hospital", "a small startup",
    "the local school", "a design agency", "the university", "a law firm", "a bakery downtown",
]
HOBBIES = [
    "rock climbing", "bouldering", "trail running", "road cycling", "swimming", "yoga", "pilates",
    "chess", "painting watercolours", "pottery", "knitting", "woodworking", "birdwatching",
    "photography", "gardening", "baking bread", "brewing beer", "salsa dancing", "surfing",
    "skiing", "snowboarding", "sailing", "kayaking", "hiking", "camping", "fishing", "tennis",
    "padel", "badminton", "table tennis", "volleyball", "football", "basketball", "playing poker",
    "board games", "video games", "crossword puzzles", "sudoku", "calligraphy", "origami",
    "stand-up comedy", "choir singing", "playing in a pub quiz", "geocaching", "astronomy",
]
INSTRUMENTS = ["piano", "guitar", "bass guitar", "drums", "violin", "cello", "saxophone",
               "trumpet", "flute", "ukulele", "clarinet", "accordion", "harmonica", "banjo"]
GENRES = ["jazz", "blues", "rock", "punk", "folk", "classical", "techno", "hip hop", "reggae",
          "country", "metal", "indie pop", "bossa nova", "funk", "soul", "ambient"]
TECH = [
    ("Python", "Java"), ("Rust", "C++"), ("Go", "Python"), ("TypeScript", "JavaScript"),
    ("vim", "emacs"), ("VS Code", "IntelliJ"), ("Linux", "Windows"), ("macOS", "Linux"),
    ("Postgres", "MySQL"), ("tabs", "spaces"), ("dark mode", "light mode"), ("Kotlin", "Java"),
    ("SQLite", "Postgres"), ("Android", "iOS"), ("Firefox", "Chrome"), ("Svelte", "React"),
]
TRANSPORT = ["the train", "the bus", "cycling", "walking", "driving", "the tram", "the metro",
             "a scooter", "carpooling", "the ferry"]
CARS = ["Volkswagen Golf", "Toyota Prius", "Tesla Model 3", "Honda Civic", "Ford Focus",
        "Renault Clio", "Fiat 500", "Volvo XC40", "Skoda Octavia", "Mazda MX-5", "Nissan Leaf",
        "Kia Niro", "Subaru Outback", "Mini Cooper"]
COLOURS = ["red", "blue", "green", "black", "white", "silver", "yellow", "orange", "purple",
           "grey", "teal", "navy", "burgundy"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
TOPICS = ["the quarterly budget", "the website redesign", "the data migration",
          "the hiring plan", "the product launch", "their thesis", "the kitchen renovation",
          "the wedding plans", "the marathon training plan", "the tax return", "the book club",
          "the garden project", "the move to a new flat", "the conference talk"]
BOOKS = ["Dune", "The Hobbit", "Middlemarch", "Beloved", "Sapiens", "The Name of the Wind",
         "Project Hail Mary", "Pride and Prejudice", "The Left Hand of Darkness", "Piranesi",
         "The Three-Body Problem", "Educated", "Circe", "The Remains of the Day",
         "Klara and the Sun",
         "Stoner", "Never Let Me Go", "Gödel, Escher, Bach", "The Overstory", "Neuromancer"]
SEASONS = ["spring", "summer", "autumn", "winter"]
ADJECTIVES = ["spicy", "sweet", "salty", "bitter", "greasy", "bland", "heavy", "sour", "rich"]


HOUSING = ["small flat", "studio", "terraced house", "houseboat", "shared flat", "loft",
           "cottage", "townhouse", "farmhouse", "basement apartment"]
LANDMARKS = ["river", "old harbour", "central station", "botanical garden", "football stadium",
             "university campus", "cathedral", "city park", "airport", "beach", "market hall",
             "castle", "zoo", "lake", "ski lift"]
REMEDIES = ["an EpiPen", "antihistamines", "an inhaler", "a medical bracelet", "nasal spray"]
GIFTS = ["books", "flowers", "wine", "board games", "concert tickets", "plants", "chocolate",
         "jewellery", "vinyl records", "cooking classes", "perfume", "spa vouchers", "tea sets",
         "puzzles", "scarves", "photo albums", "headphones", "candles", "art prints", "socks"]
METHODS = ["a phone app", "evening classes", "a private tutor", "podcasts", "a language exchange",
           "flashcards", "an online course", "children's books", "TV series", "a textbook"]
PLACES = ["a cafe near the office", "the library", "a video call", "the coworking space",
          "a pub", "the gym", "a park bench", "the canteen", "a bookshop cafe", "the station"]
STYLES = ["short", "formal", "casual", "bullet-pointed", "detailed", "friendly", "technical",
          "jargon-free"]
CONTEXTS = ["work", "side projects", "weekends", "long trips", "early mornings", "late nights",
            "teaching", "travel", "meetings", "studying"]


def synthetic_memory(rng: random.Random) -> tuple[str, str, str]:
    """One varied synthetic memory: (kind, subject, text), in the extractor's style.

    Every template combines three or more slots, so 100k draws are nearly all distinct texts
    (exact duplicates would be an unrealistic, HNSW-hostile corpus).
    """
    c = rng.choice
    year = rng.randint(1995, 2025)
    pick = rng.randrange(20)
    if pick == 0:
        a, b = c(TECH) if rng.random() < 0.5 else tuple(rng.sample(DRINKS, 2))
        return ("preference", f"prefers {a}",
                f"The user prefers {a} over {b} for {c(CONTEXTS)}, and has since {year}.")
    if pick == 1:
        return ("fact", "home location",
                f"The user lives in a {c(HOUSING)} in {c(CITIES)}, {c(COUNTRIES)}, near the "
                f"{c(LANDMARKS)}.")
    if pick == 2:
        pet, name = c(PETS), c(PET_NAMES)
        return ("fact", f"pet {name}",
                f"The user has a {rng.randint(1, 15)}-year-old {c(COLOURS)} {pet} named {name}.")
    if pick == 3:
        return ("fact", "occupation",
                f"The user works as a {c(JOBS)} at {c(COMPANIES)} in {c(CITIES)}.")
    if pick == 4:
        return ("preference", "favourite food",
                f"The user's favourite food is {c(FOODS)} with {c(DRINKS)}, best from a place "
                f"in {c(CITIES)}.")
    if pick == 5:
        hobby = c(HOBBIES)
        return ("preference", f"likes {hobby}",
                f"The user enjoys {hobby} with {c(PEOPLE)} in {c(CITIES)} on {c(WEEKDAYS)}s.")
    if pick == 6:
        allergen = c(ALLERGENS)
        return ("fact", f"allergy {allergen}",
                f"The user is allergic to {allergen} and carries {c(REMEDIES)}; Dr. "
                f"{c(PEOPLE)} diagnosed it in {year}.")
    if pick == 7:
        relative = c(RELATIVES)
        return ("fact", f"{relative} birthday",
                f"The user's {relative}'s birthday is on {c(MONTHS)} {rng.randint(1, 28)} and "
                f"they like {c(GIFTS)} as presents.")
    if pick == 8:
        language = c(LANGUAGES)
        return ("fact", f"learning {language}",
                f"The user is learning {language} with {c(METHODS)} for a trip to "
                f"{c(COUNTRIES)} in {c(MONTHS)}.")
    if pick == 9:
        instrument = c(INSTRUMENTS)
        return ("fact", f"plays {instrument}",
                f"The user plays the {instrument} in a {c(GENRES)} band with {c(PEOPLE)} every "
                f"{c(WEEKDAYS)}.")
    if pick == 10:
        food = c(FOODS)
        return ("preference", f"dislikes {food}",
                f"The user dislikes {food} because it is too {c(ADJECTIVES)}, ever since a trip "
                f"to {c(CITIES)}.")
    if pick == 11:
        relative = c(RELATIVES)
        return ("fact", f"{relative} home",
                f"The user's {relative} lives in {c(CITIES)} and works as a {c(JOBS)}.")
    if pick == 12:
        person = c(PEOPLE)
        return ("fact", f"meeting {person}",
                f"The user meets {person} about {c(TOPICS)} at {c(PLACES)} every "
                f"{c(WEEKDAYS)} at {rng.randint(8, 18)}:00.")
    if pick == 13:
        return ("fact", "car",
                f"The user drives a {c(COLOURS)} {c(CARS)} bought in {year} and calls it "
                f"{c(PET_NAMES)}.")
    if pick == 14:
        book = c(BOOKS)
        return ("preference", f"book {book}",
                f"The user read {book} in {c(CITIES)} last {c(SEASONS)}, recommended by "
                f"{c(PEOPLE)}, and loved it.")
    if pick == 15:
        language = c(LANGUAGES)
        return ("procedural", f"answer in {language}",
                f"Instruction from the user: always answer in {language} and keep it "
                f"{c(STYLES)} when {c(PEOPLE)} asks about {c(TOPICS)}.")
    if pick == 16:
        hobby = c(HOBBIES)
        return ("fact", f"started {hobby}",
                f"The user started {hobby} in {year} after moving to {c(CITIES)}.")
    if pick == 17:
        drink = c(DRINKS)
        return ("preference", f"drinks {drink}",
                f"The user drinks {drink} every {c(['morning', 'afternoon', 'evening'])} at "
                f"{c(PLACES)} in {c(CITIES)}.")
    if pick == 18:
        return ("preference", "commute",
                f"The user commutes {rng.randint(1, 18) * 5} minutes to {c(COMPANIES)} by "
                f"{c(TRANSPORT)} and hates {c(TRANSPORT)}.")
    person = c(PEOPLE)
    return ("fact", f"friend {person}",
            f"The user's friend {person} is a {c(JOBS)} who loves {c(HOBBIES)}.")


def synthetic_query(rng: random.Random) -> str:
    """One natural-language question a user might ask about their own memories."""
    c = rng.choice
    templates: list[Callable[[], str]] = [
        lambda: "Where do I live these days?",
        lambda: f"What is my {c(PETS)} called?",
        lambda: f"Do I like {c(FOODS)}?",
        lambda: f"Which do I prefer, {' or '.join(c(TECH))}?",
        lambda: f"Am I allergic to {c(ALLERGENS)}?",
        lambda: f"When is my {c(RELATIVES)}'s birthday?",
        lambda: f"What instrument do I play in the {c(GENRES)} band?",
        lambda: f"What do I usually do on {c(WEEKDAYS)}s?",
        lambda: f"Which language am I learning for my trip to {c(COUNTRIES)}?",
        lambda: "What car do I drive?",
        lambda: f"Who do I meet about {c(TOPICS)}?",
        lambda: f"Where does my {c(RELATIVES)} live?",
        lambda: f"What did I think of {c(BOOKS)}?",
        lambda: f"How do I get to work, by {c(TRANSPORT)}?",
        lambda: f"What do I drink in the {c(['morning', 'afternoon', 'evening'])}?",
        lambda: f"When did I start {c(HOBBIES)}?",
        lambda: f"Is there a good {c(FOODS)} place in {c(CITIES)} I might like?",
        lambda: f"What does my friend {c(PEOPLE)} do for a living?",
        lambda: f"Remind me what job I have at {c(COMPANIES)}.",
        lambda: f"Any ideas for a weekend of {c(HOBBIES)} near {c(CITIES)}?",
    ]
    return c(templates)()


def distinct_queries(n: int, seed: int) -> list[str]:
    """`n` distinct synthetic queries, the same for the same seed."""
    rng = random.Random(seed)
    seen: dict[str, None] = {}
    while len(seen) < n:
        seen.setdefault(synthetic_query(rng), None)
    return list(seen)


# Facts whose wording is outside the generator's vocabulary, each with the question it answers.
PLANTED: list[tuple[str, str]] = [
    ("The user's grandmother taught them to make sourdough bread in Reykjavik.",
     "Who taught me to make sourdough?"),
    ("The user is training for the Tromsø midnight sun marathon.",
     "Which marathon am I training for?"),
    ("The user keeps a bonsai juniper that is forty years old.",
     "How old is my bonsai tree?"),
    ("The user's locker code at the climbing gym is written on a yellow sticky note.",
     "Where did I write down my gym locker code?"),
    ("The user proposed to their partner on a night train to Venice.",
     "Where did I propose?"),
    ("The user restores vintage Vespa scooters in their garage.",
     "What kind of scooters do I restore?"),
    ("The user's blood type is O negative.", "What is my blood type?"),
    ("The user collects antique fountain pens from the 1920s.",
     "What antiques do I collect?"),
    ("The user volunteers at an animal shelter every second Saturday.",
     "Where do I volunteer?"),
    ("The user's first concert was Radiohead at Glastonbury.",
     "What was my first concert?"),
    ("The user is afraid of heights and avoids glass elevators.",
     "What am I afraid of?"),
    ("The user's wifi router is in the hallway cupboard.",
     "Where is my wifi router?"),
    ("The user brews kombucha with hibiscus and ginger.",
     "What flavour kombucha do I brew?"),
    ("The user wants to visit the northern lights in Lapland before turning forty.",
     "Where do I want to see the northern lights?"),
    ("The user's daughter takes ballet lessons on Wednesday evenings.",
     "When are my daughter's ballet lessons?"),
    ("The user had knee surgery in 2019 and avoids running downhill.",
     "Why do I avoid running downhill?"),
    ("The user's favourite board game is Twilight Imperium.",
     "What is my favourite board game?"),
    ("The user is saving money for a sailboat named Albatross.",
     "What am I saving money for?"),
    ("The user speaks Icelandic with their cousins in Akureyri.",
     "Which language do I speak with my cousins?"),
    ("The user grows heirloom tomatoes on an allotment near the canal.",
     "Where do I grow tomatoes?"),
]


def conversation_turns(n: int, seed: int) -> list[str]:
    """`n` short conversational user turns: statements about the user, small talk, questions.

    Roughly 45% state something the extractor remembers, 15% are small talk, 40% are questions.
    """
    rng = random.Random(seed)
    c = rng.choice
    statements: list[Callable[[], str]] = [
        lambda: f"I live in {c(CITIES)} now.",
        lambda: f"I just moved to {c(CITIES)}, still unpacking boxes.",
        lambda: f"I work at {c(COMPANIES)} as part of the platform team.",
        lambda: f"I prefer {' over '.join(c(TECH))} for most things.",
        lambda: f"I really like {c(FOODS)}, especially on {c(WEEKDAYS)}s.",
        lambda: f"I hate {c(FOODS)}.",
        lambda: f"I'm allergic to {c(ALLERGENS)}, so please keep that in mind.",
        lambda: f"My favourite drink is {c(DRINKS)}.",
        lambda: f"Call me {c(PEOPLE)}.",
        lambda: f"Remember that my {c(RELATIVES)}'s birthday is on {c(MONTHS)} "
                f"{rng.randint(1, 28)}.",
        lambda: f"I enjoy {c(HOBBIES)} with my {c(RELATIVES)}.",
        lambda: f"Please always answer in {c(LANGUAGES)} when I ask about recipes.",
        lambda: f"Remember that my {c(PETS)} is called {c(PET_NAMES)}.",
        lambda: f"I love {c(GENRES)} and I play the {c(INSTRUMENTS)}.",
    ]
    small_talk: list[Callable[[], str]] = [
        lambda: "Thanks, that helps a lot.",
        lambda: f"I just got back from {c(HOBBIES)}, it was exhausting but fun.",
        lambda: f"The weather in {c(CITIES)} has been terrible this week.",
        lambda: "Okay, let's continue tomorrow.",
        lambda: f"My {c(RELATIVES)} says hi.",
        lambda: f"I finished reading {c(BOOKS)} last night.",
    ]
    turns = []
    for _ in range(n):
        roll = rng.random()
        if roll < 0.45:
            turns.append(c(statements)())
        elif roll < 0.60:
            turns.append(c(small_talk)())
        else:
            turns.append(synthetic_query(rng))
    return turns


class Client:
    """A loop of one operation, timing each, until stopped."""

    def __init__(self) -> None:
        """A client not yet started."""
        self.stop = asyncio.Event()
        self.times: list[tuple[float, float]] = []  # (when it started, how long it took)

    async def run(self, operation: Any, interval_s: float) -> None:
        """Run `operation` every `interval_s` after the last one ended, until `stop`."""
        while not self.stop.is_set():
            started = time.perf_counter()
            await operation()
            self.times.append((started, time.perf_counter() - started))
            await asyncio.sleep(interval_s)

    def longest_ms(self, since: float, until: float) -> float:
        """The longest operation that started in [since, until] or was running then."""
        during = [took for began, took in self.times if began <= until and began + took >= since]
        return round(max(during, default=0.0) * 1000, 1)


def fact(text: str, thread_id: str = "bench") -> dict[str, Any]:
    """A fact's stored value, written now, as the memory service would store it."""
    from agent.memory.model.schema import MemoryValue, Source

    now = datetime.now(UTC).isoformat()
    return MemoryValue(text=text, kind="fact", subject="", importance=0.5, confidence=0.9,
                       source=Source(thread_id=thread_id), created_at=now,
                       updated_at=now).model_dump(mode="json")

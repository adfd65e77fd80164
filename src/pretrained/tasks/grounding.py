"""Is a generated sentence backed by its source? Word-level support scores, no model needed.

A claim's *new* content — its content words and numbers that the question did not already
contain — must be found in the passage it cites. "The largest source of saffron is narwhal
tusks [1]" brings "narwhal" and "tusks"; a saffron passage holds neither: support 0. Words
the claim repeats from the question only have to touch the passage (one of them present), so
a claim about the right subject from a passage about something else fails too.

Chosen because it is exact about what matters (names, numbers) and needs no model; an
entailment model would be better but none is available offline. Measured on a held-out set
(benchmarks/data/ask_heldout.md + .jsonl, `pretrained eval ask`).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from ..errors import missing_dependency

# Numbers (1,000 · 3.5 · $197 · 12%), else words; hyphens split ("three-year" → three, year);
# "49ers" stays one word.
_WORD = re.compile(r"\$?\d+(?:[.,:]\d+)*%?(?![^\W_])|[^\W_]+(?:['’][^\W_]+)*")
# Number words, declared once: the word → digits table below and the spoken-number patterns of
# the answer kinds (years, clock times, durations) are built from them.
_COUNTING = """zero one two three four five six seven eight nine ten eleven twelve thirteen
    fourteen fifteen sixteen seventeen eighteen nineteen twenty""".split()  # noqa: SIM905
_TENS = "thirty forty fifty sixty seventy eighty ninety".split()  # noqa: SIM905
_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(_COUNTING)
    if i >= 2  # "one" is as often a pronoun as a number
} | {w: str(10 * i) for i, w in enumerate(_TENS, 3)}
STOPWORDS = frozenset(
    """a an the and or but if then than so of to in on at by for with from into onto over under
    about after before between during through without within against among is are was were be
    been being am do does did doing done have has had having will would shall should can could
    may might must not no nor yes this that these those there here it its it's they them their
    theirs he him his she her hers we us our you your i me my mine who whom whose which what
    when where why how all any both each few more most other some such only own same too very
    just also as up down out off again further once ever never s t one said says say according
    told tell many much get got make made like well even still yet while because though whether
    answer question context passage passages text source sources called named known""".split()  # noqa: SIM905
)


def _norm(word: str) -> str:
    w = word.lower().replace("’", "'")
    if w.endswith("'s"):
        w = w[:-2]
    if w in _NUMBER_WORDS:
        return _NUMBER_WORDS[w]
    if w[:1] == "$" or w[:1].isdigit():
        return w.lstrip("$").replace(",", "")
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
        return w[:-1]
    return w


def content_words(text: str) -> list[str]:
    """Lower-cased, lightly stemmed content words and numbers of `text`, in order."""
    out = []
    for m in _WORD.finditer(text):
        w = _norm(m.group())
        if m.group().lower() in STOPWORDS:
            continue
        if w and w not in STOPWORDS and (len(w) > 1 or w.isdigit()):
            out.append(w)
    return out


@dataclass
class Support:
    score: float  # 0–1: share of the claim's new words found in the passage
    new: list[str]  # the claim's content words not in the question
    missing: list[str]  # of those, the ones the passage lacks
    on_topic: bool  # the passage holds at least one word the claim shares with the question


@functools.lru_cache(maxsize=1 << 16)
def lemmas(word: str) -> frozenset[str]:
    """A content word and its dictionary lemmas, any part of speech (lemminflect): "came" →
    {came, come}, "paid" → {paid, pay}. Two words match when their lemmas meet, so "the
    speaker came across it" repeats the question's "come across" instead of adding a word."""
    try:
        from lemminflect import getAllLemmas
    except ImportError as e:  # pragma: no cover - part of the text extra
        raise missing_dependency("lemminflect", "text") from e
    found = getAllLemmas(word)
    return frozenset({word, *(lemma.lower() for forms in found.values() for lemma in forms)})


def _lemma_set(words) -> set[str]:
    return {lemma for w in words for lemma in lemmas(w)}


def support(claim: str, passage: str, question: str) -> Support:
    asked = _lemma_set(content_words(question))
    words = content_words(re.sub(r"\[\d{1,2}\]", " ", claim))
    held = _lemma_set(content_words(passage))
    new = list(dict.fromkeys(w for w in words if not lemmas(w) & asked))
    echoed = {w for w in words if lemmas(w) & asked}
    missing = [w for w in new if not lemmas(w) & held]
    # The passage must be about the question: it holds a word the claim repeats from it, or
    # at least one of the question's words.
    on_topic = not echoed or bool(_lemma_set(echoed) & held) or bool(asked & held)
    if not new:  # it only repeats the question: it answers nothing
        return Support(0.0, [], [], on_topic)
    score = (len(new) - len(missing)) / len(new)
    return Support(score if on_topic else 0.0, new, missing, on_topic)


# What a question asks for, most specific first: its answer must hold one (a month for "which
# month", an amount of money for "how much did it cost", a capitalized name for "who"). The
# finer kinds matter most when a long source is quoted: a passage sentence that merely holds
# *a* number ("nine pounds a loaf") is not the answer to "how long was it shut?".
_KINDS = (
    ("month", r"\b(which|what) month\b"),
    (  # "when did…", not "…set to when baking"
        "date",
        r"^\W*((and|so|but|then) )?when\b|\bwhen (did|does|do|is|was|were|will|would|are|has|"
        r"had|have|can|could|should)\b|\b(what|which) (date|day)\b",
    ),
    ("year", r"\b(which|what) year\b"),
    ("clock", r"\bwhat time (do|does|did|is|was|are|were|will|would)\b|\bat what time\b"),
    (
        "duration",
        r"\bhow long\b|\bhow many (seconds|minutes|hours|days|nights|weeks|months|years)\b",
    ),
    (
        "money",
        r"\bhow much money\b|\bwhat (price|fee)\b|\bwhat did [^?]* cost\b|"
        r"\bhow much (did|does|do|will|would|is|was)\b[^?]*\b(cost|pay|paid|charge|spend|spent|"
        r"raise|raised|bring|brought|sell|sold|earn|rent|worth)\b|"
        # "what was the launch price …", "what is the network's annual operating budget"
        r"\b(what|how much) (is|was|were|are) (the|its|their|his|her|our|your|[\w-]+['’]s)"
        r"( (?!names?\b)[\w'’-]+){0,6}? (price|prices|cost|costs|fee|fees|budget|salary|rent|"
        r"fare|bill)\b",
    ),
    ("temperature", r"\bwhat temperature\b|\bhow (hot|cold|warm)\b"),
    ("percent", r"\bwhat (percentage|proportion|share|fraction|percent)\b|\bhow many percent\b"),
    (
        "number",
        r"\bhow (many|much|long|old|far|low|high|big|tall|often|fast|heavy|deep|wide|hot|cold)\b|"
        r"\bwhat (year|age|time)\b|\b(roughly|approximately|about) what\b|"
        r"\b(what|which) (temperature|frequency|speed|distance|percentage|proportion|total|"
        r"score|weight|height|depth|length|amount|capacity|rate|dose|voltage)\b",
    ),
    (
        "reason",
        r"^\W*why\b|\bwhy (do|does|did|is|was|were|are|would|should|not|didn['’]t|don['’]t|"
        r"doesn['’]t|isn['’]t|wasn['’]t|weren['’]t)\b|\b(what|which) (was|is|were|are) the "
        r"(main )?reasons?\b|\bfor what reason\b",
    ),
    (
        "name",
        r"\b(who|whom|whose|where)\b|\bwhich (?!of\b|one\b|way\b|kind\b|sort\b|type\b)[a-z]+\b|"
        r"\bwhat (is|are|was|were) (the|their|his|her|its) (first |last |full )?names?\b|"
        r"\bwhat (name|brand|manufacturer|make|library|database|company|firm|framework|"
        r"language|river|region|county|state|town|city|street|village|island|country|team|"
        r"service)\b|\bcalled\?|\bnamed after\b|"
        r"\bwhat (is|are|was|were) the (largest|biggest|main|leading|top|chief|primary) "
        r"(source|producer|exporter|supplier|maker|grower|consumer|buyer)s?\b",
    ),
)
_EXPECTS = [(kind, re.compile(pattern, re.I)) for kind, pattern in _KINDS]
_MONTH_NAMES = (
    "January|February|March|April|June|July|August|September|October|November|December|May"
)
_MONTH = re.compile(
    rf"\b({_MONTH_NAMES})\b|\b(jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)\.", re.I
)
_DAY = re.compile(
    r"\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday|spring|summer|autumn|"
    r"fall|winter|christmas|easter|yesterday|today|tomorrow|tonight|ago)\b|\b\w+['’]s day\b",
    re.I,
)
_YEAR = re.compile(  # 1962, the 1990s, "nineteen sixty-two", "twenty twenty"
    r"\b(1[5-9]\d\d|20\d\d)s?\b|\b(nineteen|twenty)[ -]"
    rf"(hundred|oh|o|{'|'.join(_COUNTING[10:] + _TENS)})\b",
    re.I,
)
_SMALL = (  # a count of hours or days: a digit, "a", one … sixty, "a few", "half an"
    rf"(?:\d[\d,.]*|a|an|{'|'.join(_COUNTING[1:] + _TENS[:4])}|hundred|few|couple of|several|"
    r"half an?|a half)"
)
_CLOCK = re.compile(
    r"\b\d{1,2}(:\d\d)?\s?[ap]\.?m\b|\b\d{1,2}:\d\d\b|\b(midnight|noon|midday|o'clock)\b|"
    rf"\b{_SMALL} (in the (morning|afternoon|evening)|at night|[ap]\.?m\b)",
    re.I,
)
_DURATION = re.compile(
    rf"\b{_SMALL}(?:[ -](?:and a half|\w+))?[ -](?:seconds?|minutes?|hours?|days?|nights?|"
    r"weeks?|fortnights?|months?|years?|decades?)\b|\b(overnight|a fortnight)\b",
    re.I,
)
_MONEY = re.compile(
    r"[$£€¥]\s?\d|\b\d[\d,.]*\s?(k|m|bn)?\s?(pounds?|euros?|dollars?|quid|pence|cents?|bucks|"
    r"yen|francs?|kronor|rupees?)\b|\b(pounds?|euros?|dollars?|quid|pence|cents?|bucks)\b",
    re.I,
)
# An explanation: "because the wood has to breathe", "so that it can't overcharge".
_REASON = re.compile(
    r"\b(because|cause|caused|causes|since|so that|reason|reasons|due to|otherwise|that['’]s why|"
    r"which is why|in order to|means|meant|the point|the problem|the trouble|the risk|"
    r"the idea|too \w+ to)\b",
    re.I,
)
# Kinds that rank a sentence higher but do not gate a quote or an answer: an explanation often
# comes without a connective ("Oil lets the wood breathe.").
SOFT_KINDS = frozenset({"reason"})
# A temperature or a share is a number with its unit: "two hundred loaves" is neither.
_TEMPERATURE = re.compile(
    r"\bdegrees?\b|°|\b(celsius|centigrade|fahrenheit|freezing|boiling)\b", re.I
)
_PERCENT = re.compile(
    r"%|\bper ?cent\b|\b(half|quarter|third|fifth|tenth)s?\b|\bone in \w+|\bout of (\d+|\w+)\b",
    re.I,
)
_CAPITAL = re.compile(r"\b[A-Z][\w'’-]+")
_WEEKDAY = re.compile(r"(mon|tues|wednes|thurs|fri|satur|sun)day", re.I)
_PRONOUN_I = re.compile(r"I['’]")
# Where a sentence starts (what precedes a word there): its capital is English's, not a name's.
_STARTS = re.compile(r"(^|[.!?…][\"”’)]*\s+|[\"“‘(]\s*)$")
# Words English capitalizes only because they open a sentence: time and discourse adverbs,
# connectives, the interjections of speech. A capital at a sentence's start is a name unless it
# is one of these, a stopword, or a word the sources also write in lower case.
_OPENERS = frozenset(
    """today yesterday tomorrow tonight now nowadays meanwhile however instead finally
    eventually later earlier first second third next last still perhaps maybe indeed thus
    hence therefore moreover furthermore overall generally usually often sometimes always
    rarely traditionally historically recently currently originally unlike despite although
    whereas until unless since every several another either neither none nothing everything
    something someone everyone anyone hi hello hey oh ah okay ok yeah yep yes well um uh er erm
    hmm right alright thanks thank please sorry wow look listen anyway actually basically
    honestly seriously frankly sure fine great good cool""".split()  # noqa: SIM905
)


def expected_type(question: str) -> str | None:
    """What the question's wording asks for: "month", "date", "year", "clock", "duration",
    "money", "temperature", "percent", "number", "reason", "name", or None."""
    for kind, pattern in _EXPECTS:
        if pattern.search(question):
            return kind
    return None


def lowercase_words(texts: list[str]) -> frozenset[str]:
    """The words these texts write in lower case somewhere: at a sentence's start their
    capital is not a name's ("Honestly, …", "Partly it's …")."""
    return frozenset(m.group() for t in texts for m in re.finditer(r"\b[a-z][a-z'’-]*", t))


def names(text: str, question: str, lowercase: frozenset[str] = frozenset()) -> list[str]:
    """The capitalized words of `text` that may be names the question does not hold: not a
    stopword, a month or a weekday (those are dates), "I'll", or a sentence opener — a word
    that opens a sentence is a name only when it is not a known opener and not written in
    lower case elsewhere in the sources (`lowercase`)."""
    return [m.group() for m in _name_matches(text, question, lowercase)]


def _name_matches(text: str, question: str, lowercase: frozenset[str]) -> list[re.Match]:
    asked = set(content_words(question))
    out = []
    for m in _CAPITAL.finditer(text):
        word = m.group()
        low = word.lower()
        if (
            _norm(word) in asked
            or _norm(word) in STOPWORDS
            or low in _OPENERS
            or _MONTH.fullmatch(word)
            or _WEEKDAY.fullmatch(word)
            or _PRONOUN_I.match(word)
        ):
            continue
        if low in lowercase and _STARTS.search(text, 0, m.start()):
            continue
        out.append(m)
    return out


def _phrase_spans(
    text: str, question: str, lowercase: frozenset[str]
) -> list[tuple[int, int, str]]:
    """The names of `text` (see `names`) as (start, end, phrase), a run of capitalized words
    as one: "San Francisco"."""
    spans: list[tuple[int, int, str]] = []
    for m in _name_matches(text, question, lowercase):
        if spans and not text[spans[-1][1] : m.start()].strip():
            start, _, phrase = spans[-1]
            spans[-1] = (start, m.end(), f"{phrase} {m.group()}")
        else:
            spans.append((m.start(), m.end(), m.group()))
    return spans


def rival_names(
    answer: str, sentence: str, question: str, lowercase: frozenset[str] = frozenset()
) -> list[str]:
    """The names `sentence` offers before the one `answer` picked from it and at least as near
    the question's words. "Iran grows most of the world's saffron, followed by India": for
    "which country grows most saffron?" Iran comes first, next to "grows"; an answer "India"
    has a rival, "Iran" has none. Word overlap alone cannot tell them apart, so an answer with
    a rival is quoted rather than passed on."""
    picked = {w.lower() for w in names(answer, question, lowercase)}
    part = answer_part(sentence)
    words = [(m.start(), _norm(m.group())) for m in _WORD.finditer(part)]
    asked = set(content_words(question))
    anchors = [i for i, (_, w) in enumerate(words) if w in asked]
    if not picked or not anchors:
        return []

    def distance(phrase_start: int, phrase_end: int) -> int:
        span = [i for i, (at, _) in enumerate(words) if phrase_start <= at < phrase_end]
        return min(abs(i - a) for i in span for a in anchors) if span else len(words)

    spans = _phrase_spans(part, question, lowercase)
    mine = [(a, distance(a, b)) for a, b, text in spans if picked & set(text.lower().split())]
    if not mine:
        return []
    first, near = mine[0][0], min(d for _, d in mine)
    return [
        text
        for a, b, text in spans
        if a < first and not picked & set(text.lower().split()) and distance(a, b) <= near
    ]


# A year where a sentence dates something ("in 2017", "March of twenty twenty-two"): a date,
# not a count, so it does not answer "how many people came?".
_DATED_YEAR = re.compile(
    r"\b(in|of|since|by|from|until|till|to|during|around|early|late|mid|circa|"
    + _MONTH_NAMES
    + r"|\d{1,2}(st|nd|rd|th)?),?\s+(the\s+)?(?:"
    + _YEAR.pattern
    + rf")(?:[ -](?:{'|'.join(_COUNTING[1:10])})\b)?",
    re.I,
)


def has_type(
    text: str, kind: str | None, question: str, lowercase: frozenset[str] = frozenset()
) -> bool:
    """Does `text` hold what a question of this kind asks for (a month, an amount of money, a
    number, an explanation, or a capitalized name the question does not already hold)?
    `lowercase`: the sources' lower-case words (see `names`)."""
    if kind is None:
        return True
    text = re.sub(r"\[\d{1,2}\]", " ", text)  # citation markers are not numbers
    asked = set(content_words(question))
    dated = [m.span() for m in _DATED_YEAR.finditer(text)] if kind == "number" else []
    number = any(
        m.group().lower() not in STOPWORDS
        and (w := _norm(m.group()))[:1].isdigit()
        and w not in asked
        and not any(a <= m.start() < b for a, b in dated)  # a count is not a year
        for m in _WORD.finditer(text)
    )
    if kind == "month":
        return bool(_MONTH.search(text))
    if kind == "date":  # a day, a month or a year: "on 14 March", "last June", "in 2019"
        return number or bool(_MONTH.search(text) or _DAY.search(text))
    if kind == "year":
        return bool(_YEAR.search(text))
    if kind == "clock":
        return bool(_CLOCK.search(text))
    if kind == "duration":
        return bool(_DURATION.search(text))
    if kind == "money":
        return bool(_MONEY.search(text)) and (number or bool(re.search(r"[$£€¥]\s?\d", text)))
    if kind == "number":
        return number
    if kind == "temperature":
        return number and bool(_TEMPERATURE.search(text))
    if kind == "percent":
        return bool(_PERCENT.search(text))
    if kind == "reason":
        return bool(_REASON.search(text))
    return bool(names(text, question, lowercase))


def coverage(question: str, text: str, weights: dict[str, float] | None = None) -> float:
    """Share of the question's content words (idf-weighted when given) that `text` contains."""
    asked = list(dict.fromkeys(content_words(question)))
    if not asked:
        return 0.0
    held = set(content_words(text))
    w = weights or {}
    total = sum(w.get(a, 1.0) for a in asked)
    return sum(w.get(a, 1.0) for a in asked if a in held) / total if total else 0.0


# A quote must hold at least this share of the question's content words (idf-weighted over the
# sources when `ask` has them). Measured on the dev ask sets (news digest, three talks): every
# right quote held ≥ 0.21 weighted (≥ 0.25 unweighted); below 0.2 weighted were 3 of 15 wrong
# quotes and 3 of 7 quoted unanswerable questions, which share only a talk's common words.
QUOTE_MIN_COVERAGE = 0.2


_ECHO = re.compile(r"\bthe question (is|was)\b", re.I)


def is_question(sentence: str) -> bool:
    """A question, or the speaker restating one ("Ah, the question is, how many …"): it sets
    up an answer; it is not one."""
    return sentence.rstrip().endswith("?") or bool(_ECHO.search(sentence))


def unit_sentences(text: str) -> list[str]:
    """The sentences of an answer unit (a sentence, or one with the next)."""
    return re.split(r"(?<=[.!?])\s+", text)


def answer_part(text: str) -> str:
    """`text` without its questions: what of it can answer one."""
    return " ".join(p for p in unit_sentences(text) if not is_question(p))


def answers(
    question: str,
    sentence: str,
    lowercase: frozenset[str] = frozenset(),
    weights: dict[str, float] | None = None,
) -> bool:
    """May `sentence` (or a sentence with its neighbour) be quoted as the answer to
    `question`? Its non-question part holds what the question asks for (a number, a name;
    a soft kind such as a reason does not gate) and it holds enough of the question's words
    (idf-`weights`ed when given: "bakery" in every passage of a bakery talk counts for little);
    else quoting it would pass off a neighbouring sentence as the answer."""
    kind = expected_type(question)
    return (
        kind in SOFT_KINDS or has_type(answer_part(sentence), kind, question, lowercase)
    ) and coverage(question, sentence, weights) >= QUOTE_MIN_COVERAGE

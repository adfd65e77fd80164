"""Answer-type rules of grounded ask: which questions want a name, which sentences hold one."""

from pretrained.tasks.grounding import expected_type, has_type, lowercase_words, names


def test_superlative_source_questions_want_a_name():
    assert expected_type("What is the largest source of cobalt?") == "name"
    assert expected_type("What are the main exporters of tea?") == "name"
    assert expected_type("Who wrote it?") == "name"
    assert expected_type("How many moons does Mars have?") == "number"
    assert expected_type("Why do leaves fall?") == "reason"
    assert expected_type("What do leaves do?") is None


def test_a_sentence_opener_is_not_a_name():
    q = "What is the largest source of cobalt?"
    assert not has_type("Today miners test cobalt ore by its color.", "name", q)
    assert not has_type("However, cobalt is rare.", "name", q)
    assert has_type("Congo mines most of the world's cobalt.", "name", q)
    assert has_type("Most cobalt comes from the Congo.", "name", q)


def test_questions_want_the_kind_of_thing_they_ask_for():
    assert expected_type("In which month did the flood hit?") == "month"
    assert expected_type("In what year was the boat built?") == "year"
    assert expected_type("When did the storm happen?") == "date"
    assert expected_type("What time does the baker get in?") == "clock"
    assert expected_type("How long was the shop shut?") == "duration"
    assert expected_type("How much money did the share offer bring in?") == "money"
    assert expected_type("What price did they charge for a loaf?") == "money"
    assert expected_type("What temperature is the oven set to?") == "temperature"
    assert expected_type("Which manufacturer made the engine?") == "name"
    assert expected_type("What is the first name of the sailmaker?") == "name"
    assert expected_type("What kind of shop was it?") is None
    assert expected_type("Which of them won?") is None


def test_a_number_is_not_any_number():
    assert has_type("And on a Thursday night in January the water came in.", "month", "q")
    assert not has_type("We sold it for nine pounds.", "month", "q")
    assert has_type("We were shut for nineteen days.", "duration", "How long?")
    assert not has_type("We sold it for nine pounds a loaf.", "duration", "How long?")
    assert has_type("We raised forty-one thousand pounds.", "money", "How much money?")
    assert not has_type("We have two hundred and forty members.", "money", "How much money?")
    assert has_type("She gets in at four in the morning.", "clock", "What time?")
    assert has_type("It was built in nineteen sixty-two.", "year", "What year?")
    assert has_type("It happened last June.", "date", "When?")
    assert not has_type("It happened.", "date", "When?")


def test_a_capital_that_only_opens_a_sentence_is_not_a_name():
    """In a transcript "Partly it's history." or "Okay, thank you." opens a sentence; a word the
    sources also write in lower case, an interjection, a weekday or "I'll" is no name."""
    source = "It was partly luck. Do come by on a Monday. Then Priya found the shop."
    lower = lowercase_words([source])
    q = "What was the name of the boatyard?"
    assert names("Partly it's history.", q, lower) == []
    assert names("Partly it's history.", q) == ["Partly"]  # without the sources it may be one
    assert names("Okay, thank you. Come by on Saturday, I'll be there.", q, lower) == []
    assert names("Priya found the old shop on Mill Lane.", q, lower) == ["Priya", "Mill", "Lane"]
    assert not has_type("Hi. So, my name doesn't matter.", "name", q, lower)


def test_why_questions_want_an_explanation():
    assert expected_type("Why didn't the bakery get the top score?") == "reason"
    assert expected_type("What was the main reason for the delay?") == "reason"
    assert has_type("We oiled it, because oil lets the wood breathe.", "reason", "Why?")
    assert not has_type("So the keel weighs two tonnes.", "reason", "Why?")


def test_a_temperature_or_a_share_needs_its_unit():
    q = "What temperature is the deck oven set to when baking the loaves?"
    assert expected_type(q) == "temperature"  # "when baking" is a clause, not a date question
    assert expected_type("When did the flood hit?") == "date"
    assert expected_type("And when was it built?") == "date"
    assert not has_type("We burnt about two hundred loaves in the first month.", "temperature", q)
    assert has_type("It bakes at two hundred and thirty degrees.", "temperature", q)
    share = "What percentage of members voted?"
    assert expected_type(share) == "percent"
    assert has_type("About sixty percent of them voted.", "percent", share)
    assert has_type("Nearly half of them voted.", "percent", share)
    assert not has_type("Sixty of them voted.", "percent", share)


def test_a_name_picked_after_a_nearer_one_has_a_rival():
    """Word overlap supports "India" as well as "Iran" from this sentence; the sentence puts
    Iran first, next to "grows": an answer "India" has a rival and is quoted instead."""
    from pretrained.tasks.grounding import rival_names

    q = "Which country grows most of the world's saffron?"
    sentence = "Iran grows most of the world's saffron, followed by India, Greece and Spain."
    assert rival_names("The country is India.", sentence, q) == ["Iran"]
    assert rival_names("Iran grows the most.", sentence, q) == []
    assert rival_names("It is Kenya.", sentence, q) == []  # not picked from this sentence
    # a run of capitals is one name; a name far from the question's words is no rival
    bay = "Deliveries leave at dawn. Our shop manager is Samira Haddad."
    assert rival_names("Samira Haddad.", bay, "Who is the shop manager?") == []


def test_a_price_or_a_budget_is_money():
    assert expected_type("What was the launch price of the game in Japan?") == "money"
    assert expected_type("What is the network's total annual operating budget?") == "money"
    assert expected_type("How much was the bill?") == "money"
    assert expected_type("What was the name of the fee?") == "name"


def test_a_count_is_not_the_year_a_sentence_dates():
    q = "How many people came to the first public meeting?"
    assert not has_type("In March of 2017 we had our first public meeting.", "number", q)
    assert not has_type("Back in twenty twenty-two we had our first meeting.", "number", q)
    assert has_type("In March of 2017 forty people came to the meeting.", "number", q)
    assert has_type("We had about nineteen hundred visitors.", "number", q)
    assert has_type("In 2017 we met.", "date", "When did they first meet?")

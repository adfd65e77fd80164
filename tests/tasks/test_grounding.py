"""Answer-type rules of grounded ask: which questions want a name, which sentences hold one."""

from pretrained.tasks.grounding import expected_type, has_type


def test_superlative_source_questions_want_a_name():
    assert expected_type("What is the largest source of cobalt?") == "name"
    assert expected_type("What are the main exporters of tea?") == "name"
    assert expected_type("Who wrote it?") == "name"
    assert expected_type("How many moons does Mars have?") == "number"
    assert expected_type("Why do leaves fall?") is None


def test_a_sentence_opener_is_not_a_name():
    q = "What is the largest source of cobalt?"
    assert not has_type("Today miners test cobalt ore by its color.", "name", q)
    assert not has_type("However, cobalt is rare.", "name", q)
    assert has_type("Congo mines most of the world's cobalt.", "name", q)
    assert has_type("Most cobalt comes from the Congo.", "name", q)

"""The streaming corpus readers: formats, split discovery and their errors."""

import gzip
import tracemalloc

import pytest

from keras_transformer.data.readers import (
    CorpusError,
    CorpusFiles,
    ReadStats,
    count_lines,
    find_splits,
    read_parallel_files,
    read_tsv,
)


def write(path, text, compress=False):
    data = text.encode("utf-8") if isinstance(text, str) else text
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def pair_files(directory, stem, source, target, compress=False):
    suffix = ".gz" if compress else ""
    return (
        write(directory / f"{stem}.en{suffix}", source, compress),
        write(directory / f"{stem}.de{suffix}", target, compress),
    )


# Formats.


def test_reads_aligned_plain_files_and_strips_whitespace(tmp_path):
    en, de = pair_files(
        tmp_path, "train", "  Hello .\nA dog runs.\n", "Hallo .\t\nEin Hund.\n"
    )
    stats = ReadStats()
    pairs = list(read_parallel_files(en, de, stats))
    assert pairs == [("Hello .", "Hallo ."), ("A dog runs.", "Ein Hund.")]
    assert stats == ReadStats(pairs_read=2, dropped_empty=0)


def test_strip_false_keeps_spaces_but_removes_the_line_ending(tmp_path):
    en, de = pair_files(tmp_path, "train", " a \r\n", "b  \n")
    assert list(read_parallel_files(en, de, strip=False)) == [(" a ", "b  ")]


def test_gzip_is_detected_by_magic_bytes_not_by_the_name(tmp_path):
    en = write(tmp_path / "train.en", "one\ntwo\n", compress=True)  # no .gz suffix
    de = write(tmp_path / "train.de.gz", "eins\nzwei\n", compress=True)
    assert list(read_parallel_files(en, de)) == [("one", "eins"), ("two", "zwei")]
    plain = write(tmp_path / "plain.gz", "one\ntwo\n")  # .gz suffix, not gzipped
    assert list(read_parallel_files(plain, de)) == [("one", "eins"), ("two", "zwei")]


def test_lines_split_on_newline_only_not_unicode_separators(tmp_path):
    en, de = pair_files(tmp_path, "train", "a\u2028b\x85c\n", "x\u000by\n")
    assert list(read_parallel_files(en, de)) == [("a\u2028b\x85c", "x\u000by")]


def test_bom_and_crlf_are_removed(tmp_path):
    en, de = pair_files(
        tmp_path, "train", "\ufeffHello\r\nBye\r\n", "\ufeffHallo\r\nTschüss"
    )
    assert list(read_parallel_files(en, de)) == [("Hello", "Hallo"), ("Bye", "Tschüss")]
    tsv = write(tmp_path / "t.tsv", "\ufeffGo.\tGeh.\r\n")
    assert list(read_tsv(tsv)) == [("Go.", "Geh.")]


def test_empty_sides_are_dropped_and_counted(tmp_path):
    en, de = pair_files(tmp_path, "train", "a\n\nc\n  \ne\n", "A\nB\n\nD\n \t\n")
    stats = ReadStats()
    assert list(read_parallel_files(en, de, stats)) == [("a", "A")]
    assert (stats.pairs_read, stats.dropped_empty) == (1, 4)
    assert stats.describe() == (
        "read 1 pair; dropped 4 pairs with an empty or whitespace-only side"
    )


def test_stats_accumulate_over_readers(tmp_path):
    en, de = pair_files(tmp_path, "train", "a\nb\n", "A\nB\n")
    stats = ReadStats()
    for _ in range(2):
        list(read_parallel_files(en, de, stats))
    assert stats.describe() == (
        "read 4 pairs; dropped 0 pairs with an empty or whitespace-only side"
    )


def test_tsv_with_attribution_columns_tatoeba_style(tmp_path):
    tsv = write(
        tmp_path / "deu.txt",
        "Go.\tGeh.\tCC-BY 2.0 (France) Attribution: tatoeba.org #2877272\n"
        "Hi.\tHallo!\tCC-BY 2.0 (France) Attribution: tatoeba.org #538123\n"
        "\n"
        "Run!\t \tattribution\n",
    )
    stats = ReadStats()
    assert list(read_tsv(tsv, stats=stats)) == [("Go.", "Geh."), ("Hi.", "Hallo!")]
    assert (stats.pairs_read, stats.dropped_empty) == (2, 2)


def test_tsv_chosen_columns_and_gzip(tmp_path):
    tsv = write(tmp_path / "pairs.tsv.gz", "1\tHallo\tx\tHello\n2\tJa\ty\tYes\n", True)
    pairs = list(read_tsv(tsv, source_column=3, target_column=1))
    assert pairs == [("Hello", "Hallo"), ("Yes", "Ja")]
    with pytest.raises(ValueError, match="columns must be >= 0"):
        read_tsv(tsv, source_column=-1)


def test_count_lines(tmp_path):
    assert count_lines(write(tmp_path / "a", "x\ny\n")) == 2
    assert count_lines(write(tmp_path / "b", "x\ny")) == 2  # no final newline
    assert count_lines(write(tmp_path / "c", "")) == 0
    assert count_lines(write(tmp_path / "d.gz", "x\n" * 3000, compress=True)) == 3000


# Split discovery.


def test_find_splits_multi30k_names(tmp_path):
    pair_files(tmp_path, "train", "a\nb\n", "A\nB\n")
    pair_files(tmp_path, "val", "c\n", "C\n")
    pair_files(tmp_path, "test_2016_flickr", "d\n", "D\n")
    write(tmp_path / "README.md", "# Multi30k\n")
    write(tmp_path / "train.fr", "x\ny\n")  # another language: ignored
    splits = find_splits(tmp_path, "en", "de")
    assert list(splits) == ["train", "valid", "test"]
    assert splits["train"] == CorpusFiles(tmp_path / "train.en", tmp_path / "train.de")
    assert splits["test"].source_path.name == "test_2016_flickr.en"
    assert list(splits["valid"].read()) == [("c", "C")]
    stats = ReadStats()
    assert list(splits["train"].read(stats)) == [("a", "A"), ("b", "B")]
    assert stats.pairs_read == 2
    reverse = find_splits(tmp_path, "de", "en")
    assert list(reverse["test"].read()) == [("D", "d")]


def test_find_splits_valid_test_gzipped_and_optional_splits(tmp_path):
    pair_files(tmp_path, "train", "a\n", "A\n", compress=True)
    pair_files(tmp_path, "valid", "b\n", "B\n")
    assert list(find_splits(tmp_path, "en", "de")) == ["train", "valid"]
    pair_files(tmp_path, "test", "c\n", "C\n", compress=True)
    splits = find_splits(tmp_path, "en", "de")
    assert splits["test"].target_path.name == "test.de.gz"
    assert list(splits["train"].read()) == [("a", "A")]


def test_find_splits_wmt_names(tmp_path):
    for stem in ("train", "newstest2013", "newstest2014"):
        pair_files(tmp_path, stem, "a\n", "A\n")
    splits = find_splits(tmp_path, "en", "de")
    assert splits["valid"].source_path.name == "newstest2013.en"
    assert splits["test"].source_path.name == "newstest2014.en"


def test_find_splits_tsv_directory(tmp_path):
    write(tmp_path / "train.en-de.tsv", "Go.\tGeh.\tattribution\n")
    write(tmp_path / "valid.tsv.gz", "Hi.\tHallo.\n", compress=True)
    write(tmp_path / "test.de-en.tsv", "Ja.\tYes.\n")  # reversed pair: columns swap
    write(tmp_path / "dev.en-fr.tsv", "x\ty\n")  # another pair: ignored
    splits = find_splits(tmp_path, "en", "de")
    assert splits["train"] == CorpusFiles(tsv_path=tmp_path / "train.en-de.tsv")
    assert list(splits["train"].read()) == [("Go.", "Geh.")]
    assert list(splits["valid"].read()) == [("Hi.", "Hallo.")]
    assert (splits["test"].source_column, splits["test"].target_column) == (1, 0)
    assert list(splits["test"].read()) == [("Yes.", "Ja.")]


def test_find_splits_ambiguous_split_lists_candidates(tmp_path):
    pair_files(tmp_path, "train", "a\n", "A\n")
    pair_files(tmp_path, "test_2016_flickr", "b\n", "B\n")
    pair_files(tmp_path, "test_2017_mscoco", "c\n", "C\n")
    with pytest.raises(CorpusError) as error:
        find_splits(tmp_path, "en", "de")
    message = str(error.value)
    assert "2 candidates for the test split" in message and str(tmp_path) in message
    assert "test_2016_flickr.en + test_2016_flickr.de" in message
    assert "test_2017_mscoco.en + test_2017_mscoco.de" in message
    assert "explicit paths" in message


def test_find_splits_plain_and_gzipped_duplicate_is_an_error(tmp_path):
    pair_files(tmp_path, "train", "a\n", "A\n")
    write(tmp_path / "train.en.gz", "a\n", compress=True)
    with pytest.raises(CorpusError, match=r"both train\.en and train\.en\.gz exist"):
        find_splits(tmp_path, "en", "de")


def test_find_splits_missing_train_names_directory_and_names_looked_for(tmp_path):
    pair_files(tmp_path, "val", "a\n", "A\n")
    with pytest.raises(CorpusError) as error:
        find_splits(tmp_path, "en", "de")
    message = str(error.value)
    assert f"no train split for en-de in {tmp_path}" in message
    assert "train.en + train.de" in message and "train.en-de.tsv" in message
    assert "files there: val.de, val.en" in message


def test_find_splits_one_sided_pair_and_missing_directory(tmp_path):
    write(tmp_path / "train.en", "a\n")
    with pytest.raises(CorpusError, match=r"found train\.en but no train\.de"):
        find_splits(tmp_path, "en", "de")
    with pytest.raises(CorpusError, match="corpus directory not found: .*nowhere"):
        find_splits(tmp_path / "nowhere", "en", "de")


def test_corpus_files_needs_one_kind(tmp_path):
    with pytest.raises(ValueError, match="either source_path and target_path"):
        CorpusFiles(source_path=tmp_path / "a")
    with pytest.raises(ValueError, match="either source_path and target_path"):
        CorpusFiles(tmp_path / "a", tmp_path / "b", tmp_path / "c.tsv")


# Bad input.


def test_mismatched_line_counts_name_both_files_and_counts(tmp_path):
    en, de = pair_files(tmp_path, "train", "a\nb\nc\nd\ne\n", "A\nB\nC\n")
    reader = read_parallel_files(en, de)
    assert [next(reader) for _ in range(3)] == [("a", "A"), ("b", "B"), ("c", "C")]
    with pytest.raises(CorpusError) as error:
        next(reader)
    message = str(error.value)
    assert f"{en} has 5 lines but {de} has 3" in message
    assert "must be line-aligned" in message and f"{de} ended after line 3" in message
    # The other way round, the longer file's total is counted as well.
    longer = write(tmp_path / "long.de", "x\n" * 6)
    with pytest.raises(
        CorpusError, match=r"long\.de has 6 lines but .*train\.en has 5"
    ):
        list(read_parallel_files(longer, en))


def test_mismatch_from_trailing_blank_lines_says_so(tmp_path):
    en, de = pair_files(tmp_path, "train", "a\nb\n\n\n", "A\nB\n")
    with pytest.raises(CorpusError) as error:
        list(read_parallel_files(en, de))
    assert "has 4 lines but" in str(error.value) and "has 2:" in str(error.value)
    assert "The 2 extra lines of" in str(error.value)
    assert "are blank: remove them" in str(error.value)


def test_invalid_utf8_reports_file_line_and_bytes(tmp_path):
    en = write(tmp_path / "train.en", b"ok\nstill ok\nbad \xe4 byte\n")
    de = write(tmp_path / "train.de", "gut\nnoch gut\nschlecht\n")
    reader = read_parallel_files(en, de)
    assert next(reader) == ("ok", "gut")  # the problem is met only when reached
    with pytest.raises(CorpusError) as error:
        list(reader)
    message = str(error.value)
    assert f"{en}, line 3: invalid UTF-8" in message
    assert r"b'\xe4'" in message and "column 5" in message and "iconv" in message


def test_invalid_utf8_in_gzipped_tsv(tmp_path):
    tsv = write(tmp_path / "t.tsv.gz", b"a\tb\nc\t\xff\n", compress=True)
    with pytest.raises(CorpusError, match=r"t\.tsv\.gz, line 2: invalid UTF-8"):
        list(read_tsv(tsv))


def test_utf16_file_gets_a_specific_hint(tmp_path):
    tsv = write(tmp_path / "t.tsv", "a\tb\n".encode("utf-16"))
    with pytest.raises(CorpusError, match="line 1: invalid UTF-8.*-f UTF-16"):
        list(read_tsv(tsv))


def test_missing_file_is_reported_at_call_with_directory(tmp_path):
    en = write(tmp_path / "train.en", "a\n")
    with pytest.raises(CorpusError) as error:
        read_parallel_files(en, tmp_path / "train.de")  # no iteration needed
    message = str(error.value)
    assert f"corpus file not found: train.de in directory {tmp_path}" in message
    assert "files there: train.en" in message
    with pytest.raises(CorpusError, match="does not exist either"):
        read_tsv(tmp_path / "nowhere" / "t.tsv")
    with pytest.raises(CorpusError, match="corpus file not found: x.gz"):
        count_lines(tmp_path / "x.gz")


def test_empty_files_are_errors_naming_the_file(tmp_path):
    en, de = pair_files(tmp_path, "train", "a\nb\n", "")
    with pytest.raises(CorpusError, match=rf"^{de} is empty"):
        list(read_parallel_files(en, de))
    with pytest.raises(CorpusError, match=rf"^{en} is empty"):
        list(read_parallel_files(write(en, ""), de))
    gz = write(tmp_path / "t.tsv.gz", "", compress=True)
    with pytest.raises(CorpusError, match=rf"^{gz} is empty"):
        list(read_tsv(gz))


def test_whitespace_only_files_are_errors_naming_the_file(tmp_path):
    en, de = pair_files(tmp_path, "train", "a\nb\n", " \n\t\n")
    with pytest.raises(CorpusError) as error:
        list(read_parallel_files(en, de))
    assert str(error.value).startswith(f"{de} has 2 lines, all empty or whitespace")
    tsv = write(tmp_path / "t.tsv", "\n \n")
    with pytest.raises(CorpusError, match=rf"^{tsv} has 2 lines, all empty"):
        list(read_tsv(tsv))


def test_no_pair_with_both_sides_is_an_error(tmp_path):
    en, de = pair_files(tmp_path, "train", "a\n\n", "\nB\n")
    with pytest.raises(CorpusError, match="no pair could be read: every line pair"):
        list(read_parallel_files(en, de))
    tsv = write(tmp_path / "t.tsv", "a\t\tx\n\tb\ty\n")
    with pytest.raises(CorpusError, match="empty source or target column"):
        list(read_tsv(tsv))


def test_tsv_too_few_columns(tmp_path):
    tsv = write(tmp_path / "t.tsv", "a\tb\tc\nd\te\n")
    reader = read_tsv(tsv, source_column=0, target_column=2)
    assert next(reader) == ("a", "c")
    with pytest.raises(CorpusError) as error:
        next(reader)
    message = str(error.value)
    assert f"{tsv}, line 2: expected at least 3 tab-separated columns" in message
    assert "found 2" in message and "'d\\te'" in message


def test_truncated_gzip_is_an_error(tmp_path):
    data = gzip.compress(("a line of text\n" * 2000).encode())
    bad = write(tmp_path / "t.tsv", data[: len(data) // 2])
    with pytest.raises(CorpusError, match="truncated or corrupt"):
        list(read_tsv(bad, target_column=0))
    with pytest.raises(CorpusError, match="truncated or corrupt"):
        count_lines(bad)


# Streaming.


def test_reading_the_first_pair_does_not_read_the_whole_file(tmp_path):
    line = "a fairly ordinary sentence of a translation corpus\n"
    en, de = pair_files(tmp_path, "big", line * 100_000, line * 99_999)  # ~5 MB each
    tracemalloc.start()
    try:
        reader = read_parallel_files(en, de)
        assert next(reader)[0] == line.strip()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 500_000
    reader.close()  # closing early is fine; the mismatch is never reached

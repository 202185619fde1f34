/* corpus.h — text corpora for token models: the "text" data source, its byte vocabulary, the
 * validation split carved from its end, and the token batcher with its part of a checkpoint.
 *
 * CORPUS.  A corpus is a file, or a folder whose files are read in this order: the entries of
 * the folder itself (not of its subfolders), sorted by name bytewise (strcmp), keeping each
 * regular file (not a symbolic link, a folder or a device) whose name does not start with '.'
 * and does not end in ".dat" or ".u8" (the index files and UTF-8 links of a fortune(6) folder,
 * the default corpus TV_CORPUS_DEFAULT from Debian's fortunes package).  The files are read as
 * bytes and concatenated, nothing between them.  An empty corpus, a folder without such a file
 * and a missing path are errors naming the path.
 *
 * SPLIT AND VOCABULARY.  The last valid_tokens bytes (or, with valid_tokens 0, the last
 * round(valid_fraction * bytes)) are the validation text, the rest the training text.  The
 * vocabulary is the set of byte values of the training text, in increasing order: token id i
 * is the i-th smallest byte present (so at most 256 ids).  A validation byte the training text
 * lacks is dropped from the validation text (tv_corpus.dropped counts them).
 *
 * BATCHES.  tv_stream cuts a token array into batches of B rows of T steps, the inputs x and
 * the targets y, y being x one token later (teacher forcing), in one of two ways:
 *   contiguous  the text is B streams of S = n / B tokens each (stream b is tokens
 *               [b S, (b+1) S)); window k of an epoch gives row b the tokens b S + k T + t,
 *               t < T, so consecutive batches continue each row: a model that carries its
 *               state (model.h) sees B long sequences (truncated backpropagation through time).
 *               An epoch is W = (S - 1) / T windows; the tokens past W T + 1 of a stream are
 *               not read.
 *   random      each row starts at tv_rng_below(r, n - T) from the generator tv_rng_seed(seed,
 *               TV_RNG_SHUFFLE), continued from batch to batch; the state is reset for every
 *               batch by the trainer.  An epoch is W = (n - 1) / (B T) batches.
 * The batcher's checkpoint part (ckpt.h): /state/text/cursor uint64 [7] = epochs done, next
 * window, n, the generator s[0..3]; and /state/text/vocab uint32 [V], the byte of each id.
 */
#ifndef TRAINVAL_CORPUS_H
#define TRAINVAL_CORPUS_H

#include <stddef.h>
#include <stdint.h>

#include "trainval/config.h"
#include "trainval/data.h"
#include "trainval/error.h"
#include "trainval/rng.h"

#define TV_CORPUS_DEFAULT "/usr/share/games/fortunes"

/* The byte vocabulary: bytes[i] is the byte of id i (i < size), ids[b] the id of byte b or -1. */
typedef struct tv_vocab {
  int size;
  uint8_t bytes[256];
  int16_t ids[256];
} tv_vocab;

/* The "text" reader of data.h's table (format "text", spec->x the corpus): ds->images holds
 * the corpus's bytes in order, ds->n their count, c = h = w = 1, no labels or targets.  Errors
 * (the message names the path): TV_ERR_NOT_FOUND (no such path), TV_ERR_FORMAT (a folder without
 * text files, an empty corpus), TV_ERR_IO, TV_ERR_NOMEM.  On failure *ds is zeroed. */
TV_MUST_CHECK int tv_corpus_read(const char *path, tv_dataset *ds);

/* A corpus split and mapped to token ids (owned; tv_corpus_free). */
typedef struct tv_corpus {
  int32_t *train, *valid;
  size_t n_train, n_valid;
  tv_vocab vocab;
  size_t bytes;   /* of the whole corpus */
  size_t dropped; /* validation bytes outside the vocabulary */
} tv_corpus;

/* Reads the config's corpus (data.corpus, through the reader table) and splits it
 * (data.valid_tokens, data.valid_fraction; SPLIT AND VOCABULARY above).  Checks that the
 * vocabulary fits the model (model.num_classes and every embedding's vocab) and that the
 * training text holds a window of model.input[0] + 1 tokens.  Errors: those of
 * tv_corpus_read, TV_ERR_MISMATCH (a vocabulary larger than the model's, a text too short:
 * both name the corpus and the config), TV_ERR_NOMEM.  On failure *c is zeroed. */
TV_MUST_CHECK int tv_corpus_load(const tv_config *cfg, tv_corpus *c);

void tv_corpus_free(tv_corpus *c); /* NULL-safe; zeroes *c */

/* The vocabulary of n bytes (cannot fail). */
void tv_vocab_build(const uint8_t *bytes, size_t n, tv_vocab *v);

/* /state/text/vocab: writes v / reads it back (the message names the file).  Read errors:
 * TV_ERR_NOT_FOUND (absent: a checkpoint of no token model), TV_ERR_FORMAT (not a vocabulary:
 * more than 256 entries, a byte over 255 or repeated), those of tv_ckpt_read_array. */
TV_MUST_CHECK int tv_vocab_ckpt_write(const tv_vocab *v, tv_ckpt_writer *w);
TV_MUST_CHECK int tv_vocab_ckpt_read(tv_vocab *v, tv_ckpt *c);

typedef struct tv_stream tv_stream;

/* A batcher of batch rows x steps tokens over ids[0..n) (borrowed: it must outlive the
 * stream).  Errors: TV_ERR_INVALID when the text holds no window (contiguous: n / batch <
 * steps + 1; random: n < steps + 1, or fewer than batch * steps + 1 tokens), TV_ERR_NOMEM.
 * *out is NULL on failure. */
TV_MUST_CHECK int tv_stream_new(const int32_t *ids, size_t n, int batch, int steps, tv_windows mode,
                                uint64_t seed, tv_stream **out);
void tv_stream_free(tv_stream *s); /* NULL-safe */

/* The next batch: x and y, batch * steps ids each (row-major, row b's steps together).
 * *epoch_done is 1 on the call that returned an epoch's last window; the next call starts the
 * next epoch (contiguous: window 0 again).  *first is 1 when this batch starts a stream
 * (contiguous: window 0) — the point to reset a carried state.  Never allocates; cannot
 * fail. */
void tv_stream_next(tv_stream *s, int32_t *x, int32_t *y, int *first, int *epoch_done);

/* Windows per epoch (W above, >= 1) and epochs completed. */
uint64_t tv_stream_windows(const tv_stream *s);
uint64_t tv_stream_epoch(const tv_stream *s);

/* /state/text/cursor (CORPUS above): writes the batcher's position / restores it.  Read errors:
 * TV_ERR_NOT_FOUND, TV_ERR_MISMATCH (another text length, a window past the epoch),
 * TV_ERR_FORMAT; on failure s is unchanged. */
TV_MUST_CHECK int tv_stream_ckpt_write(const tv_stream *s, tv_ckpt_writer *w);
TV_MUST_CHECK int tv_stream_ckpt_read(tv_stream *s, tv_ckpt *c);

#endif

/* test_imgdir.c — PNG and JPEG decoding and image folders (data.h, IMAGE FOLDERS).
 *
 * Reference: tests/fixtures/images/ (grey, RGB, RGBA, palette and 16-bit PNGs, grey and RGB
 * JPEGs) and tests/fixtures/reference_images.txt, the pixels Pillow decodes from each, converted
 * to 1 and 3 channels by the documented rules and resized by PyTorch's bilinear interpolate
 * (scripts/make_image_fixtures.py).  Tolerances: exact at the image's own size; after resizing
 * at most 1 per value (float rounding at .5) with at least 95% of the values exact.
 * Then damaged and truncated files (one error naming the file), and folders built at test time:
 * class ids from the sorted folder names, names kept, file order, skipped entries, empty classes.
 */
#include "trainval/data.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "trainval/files.h"
#include "testutil.h"

static const char *const REF = "tests/fixtures/reference_images.txt";
static const char *const IMG = "tests/fixtures/images";
enum { FH = 6, FW = 9, MAXV = 3 * 13 * 11 };

static void assert_msg_has(const char *needle) {
  if (!strstr(tv_error_message(), needle))
    fail_msg("message \"%s\" lacks \"%s\"", tv_error_message(), needle);
}

static char *slurp(const char *path, size_t *len) {
  char *data;
  size_t n;
  if (tv_fs_read_file(path, 0, &data, &n) != TV_OK)
    fail_msg("%s (run from the repository root; regenerate with scripts/make_image_fixtures.py)",
             tv_error_message());
  if (len) *len = n;
  return data;
}

static void test_reference(void **state) {
  (void)state;
  char *ref = slurp(REF, NULL);
  static const char *const files[] = {"grey.png",   "rgb.png",  "rgba.png", "palette.png",
                                      "grey16.png", "grey.jpg", "rgb.jpg"};
  static const int sizes[][2] = {{FH, FW}, {4, 13}, {11, 5}};
  int records = 0;
  for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", IMG, files[f]);
    for (int c = 1; c <= 3; c += 2)
      for (size_t s = 0; s < 3; s++) {
        char name[128];
        snprintf(name, sizeof name, "%s:c%d:%dx%d", files[f], c, sizes[s][0], sizes[s][1]);
        static double want[MAXV];
        int n = tvt_fixture_record(ref, name, want, MAXV);
        if (n != c * sizes[s][0] * sizes[s][1]) fail_msg("%s: no record %s", REF, name);
        tv_imgdir_opts o = {.channels = c,
                            .height = sizes[s][0],
                            .width = sizes[s][1],
                            .resize = s ? TV_RESIZE_BILINEAR : TV_RESIZE_NONE};
        uint8_t got[MAXV];
        if (tv_imgdir_load(path, &o, got) != TV_OK) fail_msg("%s: %s", name, tv_error_message());
        int exact = 0;
        for (int i = 0; i < n; i++) {
          int d = (int)got[i] - (int)want[i];
          if (d > (s ? 1 : 0) || d < -(s ? 1 : 0))
            fail_msg("%s: value %d is %d, reference %g", name, i, got[i], want[i]);
          exact += d == 0;
        }
        if (exact * 100 < n * 95) fail_msg("%s: only %d of %d values exact", name, exact, n);
        records++;
      }
  }
  assert_int_equal(records, 42);
  free(ref);
}

static void expect_decode_error(const void *data, size_t len, const char *name, int code,
                                const char *has) {
  tv_imgdir_opts o = {.channels = 3, .height = FH, .width = FW};
  uint8_t out[3 * FH * FW];
  int rc = tv_imgdir_decode(data, len, name, &o, out);
  if (rc != code) fail_msg("%s: code %d, want %d: %s", name, rc, code, tv_error_message());
  assert_msg_has(name);
  assert_msg_has(has);
  assert_null(strchr(tv_error_message(), '\n'));
}

static void test_damaged(void **state) {
  (void)state;
  size_t plen, jlen;
  char *png = slurp("tests/fixtures/images/rgb.png", &plen);
  char *jpg = slurp("tests/fixtures/images/rgb.jpg", &jlen);
  tv_imgdir_opts o = {.channels = 3, .height = FH + 1, .width = FW};
  uint8_t out[3 * (FH + 1) * FW];
  assert_int_equal(tv_imgdir_decode(png, plen, "other-size.png", &o, out), TV_ERR_FORMAT);
  assert_msg_has("other-size.png: image is 6 x 9");
  assert_msg_has("data.resize");
  for (size_t cut = 8; cut < plen; cut += plen / 7)
    expect_decode_error(png, cut, "cut.png", TV_ERR_FORMAT, "damaged PNG");
  expect_decode_error(png, plen - 1, "cut.png", TV_ERR_FORMAT, "damaged PNG");
  for (size_t cut = 3; cut < jlen; cut += jlen / 9)
    expect_decode_error(jpg, cut, "cut.jpg", TV_ERR_FORMAT, "damaged JPEG");
  png[plen / 2] ^= 0x55; /* inside IDAT: the CRC no longer matches */
  expect_decode_error(png, plen, "flipped.png", TV_ERR_FORMAT, "damaged PNG");
  expect_decode_error("GIF89a....", 10, "a.gif", TV_ERR_FORMAT, "neither PNG nor JPEG");
  expect_decode_error("", 0, "empty.png", TV_ERR_FORMAT, "neither PNG nor JPEG");
  /* A PNG header claiming 100000 x 100000 pixels is refused before anything is decoded. */
  unsigned char huge[33];
  memcpy(huge, png, 33);
  huge[16] = 0, huge[17] = 0x01, huge[18] = 0x86, huge[19] = 0xa0;
  huge[20] = 0, huge[21] = 0x01, huge[22] = 0x86, huge[23] = 0xa0;
  expect_decode_error(huge, sizeof huge, "huge.png", TV_ERR_FORMAT, "damaged PNG");
  free(png);
  free(jpg);
}

static void copy_file(const char *from, const char *to) {
  size_t len;
  char *d = slurp(from, &len);
  FILE *f = fopen(to, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(d, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
  free(d);
}

static void mk(const char *root, const char *sub) {
  char p[512];
  snprintf(p, sizeof p, "%s/%s", root, sub);
  assert_int_equal(tv_fs_mkdirs(p), TV_OK);
}

static void put_img(const char *root, const char *rel, const char *fixture) {
  char p[512], q[256];
  snprintf(p, sizeof p, "%s/%s", root, rel);
  snprintf(q, sizeof q, "%s/%s", IMG, fixture);
  copy_file(q, p);
}

static void test_folder(void **state) {
  const char *root = *state;
  mk(root, "zebra");
  mk(root, "ant");
  mk(root, ".cache");
  put_img(root, "zebra/b.png", "grey.png");
  put_img(root, "zebra/a.JPG", "grey.jpg");
  put_img(root, "ant/x.png", "rgb.png");
  put_img(root, ".cache/junk.png", "rgb.png");
  put_img(root, "ant/notes.txt", "rgb.png");
  put_img(root, "top.png", "rgb.png");
  tv_imgdir_opts o = {.channels = 1, .height = FH, .width = FW};
  tv_dataset ds;
  assert_int_equal(tv_dataset_load_imgdir(root, &o, &ds), TV_OK);
  assert_int_equal(ds.n, 3);
  assert_int_equal(ds.num_classes, 2);
  assert_string_equal(ds.names[0], "ant");
  assert_string_equal(ds.names[1], "zebra");
  assert_int_equal(ds.labels[0], 0);
  assert_int_equal(ds.labels[1], 1);
  assert_int_equal(ds.labels[2], 1);
  assert_int_equal(ds.c, 1);
  assert_int_equal(ds.h, FH);
  assert_int_equal(ds.w, FW);
  /* Examples in class, then file-name order: ant/x.png, zebra/a.JPG, zebra/b.png. */
  uint8_t want[FH * FW];
  char p[512];
  const char *order[] = {"rgb.png", "grey.jpg", "grey.png"};
  for (int i = 0; i < 3; i++) {
    snprintf(p, sizeof p, "%s/%s", IMG, order[i]);
    assert_int_equal(tv_imgdir_load(p, &o, want), TV_OK);
    assert_memory_equal(ds.images + (size_t)i * FH * FW, want, sizeof want);
  }
  tv_dataset_free(&ds);

  /* A truncated image is named; an empty class folder is named; no folder is NOT_FOUND. */
  snprintf(p, sizeof p, "%s/zebra/b.png", root);
  assert_int_equal(truncate(p, 60), 0);
  assert_int_equal(tv_dataset_load_imgdir(root, &o, &ds), TV_ERR_FORMAT);
  assert_msg_has("zebra/b.png: damaged PNG");
  mk(root, "empty");
  assert_int_equal(tv_dataset_load_imgdir(root, &o, &ds), TV_ERR_FORMAT);
  assert_msg_has("empty: class folder without");
  snprintf(p, sizeof p, "%s/nowhere", root);
  assert_int_equal(tv_dataset_load_imgdir(p, &o, &ds), TV_ERR_NOT_FOUND);
  assert_msg_has("nowhere");
  snprintf(p, sizeof p, "%s/ant", root);
  assert_int_equal(tv_dataset_load_imgdir(p, &o, &ds), TV_ERR_FORMAT);
  assert_msg_has("0 class folders");
  o.channels = 2;
  assert_int_equal(tv_dataset_load_imgdir(root, &o, &ds), TV_ERR_INVALID);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reference),
      cmocka_unit_test(test_damaged),
      cmocka_unit_test_setup_teardown(test_folder, tvt_setup_tmpdir, tvt_teardown_tmpdir),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

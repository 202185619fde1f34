#!/bin/sh
# The public headers stand on their own: each compiles alone (twice, for its include guard) with
# only include/ on the path and none of the dependencies' flags (the build's -D_GNU_SOURCE only),
# so neither <yaml.h> nor a private common/ header is part of the API.
. "$(dirname "$0")/lib.sh"
CC=${CC:-cc}
for h in "$ROOT"/include/trainval/*.h; do
  name=$(basename "$h")
  printf '#include "trainval/%s"\n#include "trainval/%s"\n' "$name" "$name" >"$T/one.c"
  check "public header $name compiles alone" \
    "$CC" -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -fsyntax-only -I"$ROOT/include" "$T/one.c"
done
if out=$(grep -l -E '#include *[<"](yaml\.h|base/|config/|nn/|data/|rundir/)' "$ROOT"/include/trainval/*.h); then
  notok "no public header includes yaml.h or a private header" "$out"
else
  ok "no public header includes yaml.h or a private header"
fi
# The programs stand on the public API alone (DESIGN.md: train/, eval/ -> include/trainval ->
# common/): none includes a header from common/.
if out=$(grep -n -E '#include *"(base|config|nn|data|rundir)/' "$ROOT"/train/*.[ch] "$ROOT"/eval/*.[ch] "$ROOT"/report/*.[ch] 2>&1); then
  notok "the programs include only public headers" "$out"
else
  ok "the programs include only public headers"
fi

#!/usr/bin/env bash
# Builds jobsd the other ways a user or a packager builds it, so that each
# keeps compiling: `release` is the plain `cmake -DCMAKE_BUILD_TYPE=Release`
# build (GCC at -O3 warns about things -O2 does not), `fuzz` the libFuzzer
# targets with clang 14, whose committed corpora are then replayed under
# ASan/UBSan. Warnings are errors when the calling tree has them so.
#   other_build.sh release|fuzz SOURCE_DIR BUILD_DIR WERROR(ON|OFF)
set -euo pipefail
kind=$1 source_dir=$2 build_dir=$3 werror=$4

export CCACHE_BASEDIR=$source_dir CCACHE_NOHASHDIR=1
common=(-S "$source_dir" -B "$build_dir" -G Ninja -DJOBSD_WERROR="$werror")
case $kind in
  release)
    cmake "${common[@]}" -DCMAKE_BUILD_TYPE=Release -DJOBSD_TESTS=OFF -DJOBSD_BENCH=OFF >/dev/null
    cmake --build "$build_dir"
    ;;
  fuzz)
    # The fuzz tree builds only what the targets link: the rest of the
    # project is compiled with clang by nothing else, and a full clang build
    # would double the suite's compile time.
    CC=clang-14 CXX=clang++-14 cmake "${common[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DJOBSD_FUZZ=ON >/dev/null
    cmake --build "$build_dir" --target cron_fuzz config_fuzz
    ctest --test-dir "$build_dir" --output-on-failure -L fuzz
    ;;
  *)
    echo "other_build.sh: unknown build '$kind' (release | fuzz)" >&2
    exit 2
    ;;
esac

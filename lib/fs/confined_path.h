// Turns a relative path that came from outside (an entry name in a zip
// archive from a CI artifact, a file name in an API answer) into a path
// under a folder, refusing any that would land outside it.
//
// Rules (ConfinedPath, lexical): the name must be relative ("/etc/passwd" is
// refused), free of NUL bytes and backslashes, and have no empty components
// ("a//b"); one trailing '/' is allowed (a zip folder entry) and dropped;
// "." components are dropped; ".." is allowed only while it stays inside
// ("a/../b" is "b"; "../b" and "a/../../b" are refused); nothing at all
// ("", ".", "a/..") names the folder itself and is refused.
//
// ResolveConfined also resolves the result against the tree as it is on
// disk: a component that is a symlink is followed, and the path is refused if
// where it leads is not under the folder (an archive that first creates
// "x -> /etc" and then writes "x/passwd"). It cannot see a change made after
// it returned: a writer of untrusted trees should also create files with
// O_EXCL | O_NOFOLLOW.
//
// Pure (ConfinedPath) or reading the file system only (ResolveConfined); any
// thread. Failure: kInvalidArgument naming the input and the rule it broke.
#pragma once

#include <filesystem>
#include <string_view>

#include "core/result.h"

namespace files {

// `root` / the normalized relative `name`.
core::Result<std::filesystem::path> ConfinedPath(const std::filesystem::path& root,
                                                 std::string_view name);

// ConfinedPath, then refused if symlinks in the existing part of the path
// lead outside `root` (which must exist).
core::Result<std::filesystem::path> ResolveConfined(const std::filesystem::path& root,
                                                    std::string_view name);

}  // namespace files

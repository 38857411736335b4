// Replaces a folder with a fully prepared one in one step, so a reader (a
// training job, a web server) finds either the old tree or the new one at
// `dest`, never a mix and never nothing.
//
// `staged` must be on the same file system as `dest` (prepare it beside
// `dest`). Where the kernel and file system support it, renameat2 with
// RENAME_EXCHANGE swaps the two names at once; then the previous tree is
// renamed to `keep_previous_as` or removed. Elsewhere dest is renamed aside
// and staged into place: a moment without `dest` exists, and a kill -9 in it
// leaves the previous tree under the backup (or "<dest>.old-<pid>") name.
// The parent folders are fsynced, so the swap survives a power cut.
//
// Blocking (renames, fsync, removing the previous tree): worker threads
// only. Failure: an Error of kind kIo naming the folders; on failure before
// the swap `dest` is untouched.
#pragma once

#include <filesystem>
#include <optional>

#include "core/result.h"

namespace files {

// After it, `dest` is what `staged` was, and `staged` no longer exists.
// With `keep_previous_as`, the previous `dest` (if any) is there afterwards,
// replacing what was there; without, it is deleted.
core::Result<void> SwapFolder(const std::filesystem::path& staged,
                              const std::filesystem::path& dest,
                              const std::optional<std::filesystem::path>& keep_previous_as = {});

}  // namespace files

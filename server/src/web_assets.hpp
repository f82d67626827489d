// The dashboard's static files (server/web/), built into the binary by cmake/embed_files.cmake.
//
// Thread safety: read-only after the first call to all().
#pragma once

#include <string_view>
#include <vector>

namespace fieldsync::server::web_assets {

struct Asset {
  std::string_view name;  // the file name: "index.html", "app.js", ...
  std::string_view bytes;
};

const std::vector<Asset>& all();

// The asset served at `path` ("/" is index.html), nullptr when there is none.
const Asset* find(std::string_view path);
// The Content-Type of an asset by its name's extension.
std::string_view content_type(std::string_view name);

}  // namespace fieldsync::server::web_assets

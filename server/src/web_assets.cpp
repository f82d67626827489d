// Looking up the dashboard's built-in files (contract in web_assets.hpp).
#include "web_assets.hpp"

namespace fieldsync::server::web_assets {

const Asset* find(std::string_view path) {
  if (path == "/") path = "/index.html";
  if (!path.starts_with('/')) return nullptr;
  path.remove_prefix(1);
  for (const Asset& a : all())
    if (a.name == path) return &a;
  return nullptr;
}

std::string_view content_type(std::string_view name) {
  if (name.ends_with(".html")) return "text/html; charset=utf-8";
  if (name.ends_with(".js")) return "text/javascript; charset=utf-8";
  if (name.ends_with(".css")) return "text/css; charset=utf-8";
  if (name.ends_with(".svg")) return "image/svg+xml";
  if (name.ends_with(".png")) return "image/png";
  return "application/octet-stream";
}

}  // namespace fieldsync::server::web_assets

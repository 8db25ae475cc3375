#include "ir/Source.h"

namespace msl {

std::string_view SourceFile::line(uint32_t line1) const {
  if (line1 == 0 || line1 > lineStarts.size()) return {};
  uint32_t b = lineStarts[line1 - 1];
  uint32_t e = line1 < lineStarts.size() ? lineStarts[line1] : (uint32_t)text.size();
  while (e > b && (text[e - 1] == '\n' || text[e - 1] == '\r')) --e;
  return std::string_view(text).substr(b, e - b);
}

SourceManager& SourceManager::get() {
  static SourceManager m;
  return m;
}

const SourceFile* SourceManager::add(std::string name, std::string text) {
  auto f = std::make_unique<SourceFile>();
  f->name = std::move(name);
  f->text = std::move(text);
  f->lineStarts.push_back(0);
  for (uint32_t i = 0; i < f->text.size(); ++i)
    if (f->text[i] == '\n' && i + 1 <= f->text.size()) f->lineStarts.push_back(i + 1);
  if (f->lineStarts.size() > 1 && f->lineStarts.back() == f->text.size()) f->lineStarts.pop_back();
  files_.push_back(std::move(f));
  return files_.back().get();
}

}  // namespace msl

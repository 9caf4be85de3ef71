// A read-only memory-mapped file. Throws mm::Error (naming the path) if it cannot be opened.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace mm {

class MappedFile {
 public:
  explicit MappedFile(const std::string& path);
  // The bytes themselves, no file: a heap copy of exactly bytes.size() (so a sanitizer sees any read
  // past the end, which a page-granular mapping hides); `name` stands for the path in messages. For
  // tests and fuzzing.
  MappedFile(std::string name, const std::string& bytes);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool anonymous_ = false;  // data_ is our own allocation (LoadMode::Load)
  std::unique_ptr<uint8_t[]> owned_;  // the in-memory bytes constructor's copy
};

// How weight files are brought into memory. Mmap (default): pages come from the page cache on demand
// (4 KiB pages). Load: read into anonymous memory aligned to 2 MiB and advised for transparent huge
// pages, which lets decode stream weights closer to the memory bandwidth (fewer TLB misses) at the cost
// of reading the whole file at load time. Set once by the frontend (--no-mmap).
enum class LoadMode { Mmap, Load };
void set_load_mode(LoadMode m);
LoadMode load_mode();

// Reads a whole (small) file into a string; throws mm::Error naming the path on failure.
std::string read_text_file(const std::string& path);
bool file_exists(const std::string& path);

}  // namespace mm

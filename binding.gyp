{
  "targets": [
    {
      "target_name": "lanboot_native",
      "sources": [
        "<!@(find native/src -name '*.cc' | sort)"
      ],
      "include_dirs": ["native/src"],
      "defines": [
        "NAPI_VERSION=8",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NODE_ADDON_API_CPP_EXCEPTIONS"
      ],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": [
        "-isystem", "<!(node -p \"require('path').resolve(require('node-addon-api').include_dir)\")",
        "-std=c++17", "-fexceptions", "-O2", "-g",
        "-Wall", "-Wextra", "-Wshadow", "-Wno-unused-parameter", "-Wno-missing-field-initializers"
      ],
      "libraries": ["-lpthread"]
    }
  ]
}

"""Every minidump struct memlens reads, as data (Breakpad's ``minidump_format.h`` names).

Sizes are asserted at import against the on-disk sizes the format defines
(Breakpad's minidump_format.h) so a wrong table fails loudly, not silently.
"""

from __future__ import annotations

from memlens.sources.minidump.structs import Field, Layout, f

SIGNATURE = 0x504D444D  # 'MDMP' read as a little-endian u32
VERSION = 0xA793  # low 16 bits of the header version

HEADER = Layout("MDRawHeader", [
    f("signature", "I"), f("version", "I"), f("stream_count", "I", "d"),
    f("stream_directory_rva", "I"), f("checksum", "I"), f("time_date_stamp", "I", "time"),
    f("flags", "Q"),
])  # fmt: skip

DIRECTORY = Layout("MDRawDirectory", [
    f("stream_type", "I", "stream"), f("location.data_size", "I", "d"), f("location.rva", "I"),
])  # fmt: skip

LOCATION = Layout("MDLocationDescriptor", [f("data_size", "I", "d"), f("rva", "I")])
COUNT32 = Layout("count", [f("count", "I", "d")])

MEMORY_DESCRIPTOR = Layout("MDMemoryDescriptor", [
    f("start_of_memory_range", "Q"), f("memory.data_size", "I"), f("memory.rva", "I"),
])  # fmt: skip

MEMORY64_HEADER = Layout("MDRawMemory64List", [
    f("number_of_memory_ranges", "Q", "d"), f("base_rva", "Q"),
])  # fmt: skip
MEMORY64_DESCRIPTOR = Layout("MDMemoryDescriptor64", [
    f("start_of_memory_range", "Q"), f("data_size", "Q"),
])  # fmt: skip

THREAD = Layout("MDRawThread", [
    f("thread_id", "I"), f("suspend_count", "I", "d"), f("priority_class", "I"),
    f("priority", "I"), f("teb", "Q"), f("stack.start_of_memory_range", "Q"),
    f("stack.memory.data_size", "I"), f("stack.memory.rva", "I"),
    f("thread_context.data_size", "I"), f("thread_context.rva", "I"),
])  # fmt: skip

MODULE = Layout("MDRawModule", [
    f("base_of_image", "Q"), f("size_of_image", "I"), f("checksum", "I"),
    f("time_date_stamp", "I", "time"), f("module_name_rva", "I"),
    f("version_info.signature", "I"), f("version_info.struct_version", "I"),
    f("version_info.file_version", "I", "pair", 2),
    f("version_info.product_version", "I", "pair", 2),
    f("version_info.file_flags_mask", "I"), f("version_info.file_flags", "I"),
    f("version_info.file_os", "I"), f("version_info.file_type", "I"),
    f("version_info.file_subtype", "I"), f("version_info.file_date", "I", "pair", 2),
    f("cv_record.data_size", "I", "d"), f("cv_record.rva", "I"),
    f("misc_record.data_size", "I", "d"), f("misc_record.rva", "I"),
    f("reserved0", "Q", "hidden"), f("reserved1", "Q", "hidden"),
])  # fmt: skip

UNLOADED_HEADER = Layout("MDRawUnloadedModuleList", [
    f("size_of_header", "I", "d"), f("size_of_entry", "I", "d"),
    f("number_of_entries", "I", "d"),
])  # fmt: skip
UNLOADED_MODULE = Layout("MDRawUnloadedModule", [
    f("base_of_image", "Q"), f("size_of_image", "I"), f("checksum", "I"),
    f("time_date_stamp", "I", "time"), f("module_name_rva", "I"),
])  # fmt: skip

EXCEPTION = Layout("MDException", [
    f("thread_id", "I"), f("__align", "I", "hidden"),
    f("exception_record.exception_code", "I"), f("exception_record.exception_flags", "I"),
    f("exception_record.exception_record", "Q"), f("exception_record.exception_address", "Q"),
    f("exception_record.number_parameters", "I", "d"), f("__align2", "I", "hidden"),
    f("exception_record.exception_information", "Q", "x", 15),
    f("thread_context.data_size", "I", "d"), f("thread_context.rva", "I"),
])  # fmt: skip

_SYSTEM_INFO_HEAD = [
    f("processor_architecture", "H", "arch"), f("processor_level", "H", "d"),
    f("processor_revision", "H"), f("number_of_processors", "B", "d"),
    f("product_type", "B", "d"), f("major_version", "I", "d"), f("minor_version", "I", "d"),
    f("build_number", "I", "d"), f("platform_id", "I", "platform"), f("csd_version_rva", "I"),
    f("suite_mask", "H"), f("reserved2", "H", "hidden"),
]  # fmt: skip
SYSTEM_INFO_X86 = Layout("MDRawSystemInfo", [
    *_SYSTEM_INFO_HEAD, f("cpu.x86_cpu_info.vendor_id", "I", "x", 3),
    f("cpu.x86_cpu_info.version_information", "I"),
    f("cpu.x86_cpu_info.feature_information", "I"),
    f("cpu.x86_cpu_info.amd_extended_cpu_features", "I"),
])  # fmt: skip
SYSTEM_INFO_OTHER = Layout("MDRawSystemInfo", [
    *_SYSTEM_INFO_HEAD, f("cpu.other_cpu_info.processor_features", "Q", "x", 2),
    f("cpu.padding", "8s", "hidden"),
])  # fmt: skip

# MINIDUMP_MISC_INFO grew by version; size_of_info says which one a dump has.
_MISC_1 = [
    f("size_of_info", "I", "d"), f("flags1", "I"), f("process_id", "I", "d"),
    f("process_create_time", "I", "time"), f("process_user_time", "I", "d"),
    f("process_kernel_time", "I", "d"),
]  # fmt: skip
_MISC_2 = [
    f("processor_max_mhz", "I", "d"), f("processor_current_mhz", "I", "d"),
    f("processor_mhz_limit", "I", "d"), f("processor_max_idle_state", "I", "d"),
    f("processor_current_idle_state", "I", "d"),
]  # fmt: skip
_MISC_3 = [
    f("process_integrity_level", "I"), f("process_execute_flags", "I"),
    f("protected_process", "I", "d"), f("time_zone_id", "I", "d"),
    f("time_zone.bias", "i", "d"), f("time_zone.standard_name", "64s", "bytes"),
    f("time_zone.standard_date", "16s", "bytes"), f("time_zone.standard_bias", "i", "d"),
    f("time_zone.daylight_name", "64s", "bytes"), f("time_zone.daylight_date", "16s", "bytes"),
    f("time_zone.daylight_bias", "i", "d"),
]  # fmt: skip
_MISC_4 = [f("build_string", "520s", "bytes"), f("dbg_bld_str", "80s", "bytes")]
_MISC_5 = [
    f("xstate_data.size_of_info", "I", "d"), f("xstate_data.context_size", "I", "d"),
    f("xstate_data.enabled_features", "Q"), f("xstate_data.features", "512s", "bytes"),
    f("process_cookie", "I"),
]  # fmt: skip
MISC_INFO_VERSIONS: tuple[Layout, ...] = (
    Layout("MDRawMiscInfo", _MISC_1),
    Layout("MDRawMiscInfo", _MISC_1 + _MISC_2),
    Layout("MDRawMiscInfo", _MISC_1 + _MISC_2 + _MISC_3),
    Layout("MDRawMiscInfo", _MISC_1 + _MISC_2 + _MISC_3 + _MISC_4),
    Layout("MDRawMiscInfo", _MISC_1 + _MISC_2 + _MISC_3 + _MISC_4 + _MISC_5),
)
#: MiscInfo flags1 bit -> the fields it makes valid
MISC_FLAGS: dict[int, tuple[str, ...]] = {
    0x1: ("process_id",),
    0x2: ("process_create_time", "process_user_time", "process_kernel_time"),
    0x4: tuple(fd.name for fd in _MISC_2),
    0x10: ("process_integrity_level",),
    0x20: ("process_execute_flags",),
    0x40: tuple(fd.name for fd in _MISC_3 if fd.name.startswith("time_zone")),
    0x80: ("protected_process",),
    0x100: ("build_string", "dbg_bld_str"),
    0x200: ("process_cookie",),
}

BREAKPAD_INFO = Layout("MDRawBreakpadInfo", [
    f("validity", "I"), f("dump_thread_id", "I"), f("requesting_thread_id", "I"),
])  # fmt: skip

MEMORY_INFO_HEADER = Layout("MDRawMemoryInfoList", [
    f("size_of_header", "I", "d"), f("size_of_entry", "I", "d"),
    f("number_of_entries", "Q", "d"),
])  # fmt: skip
MEMORY_INFO = Layout("MDRawMemoryInfo", [
    f("base_address", "Q"), f("allocation_base", "Q"), f("allocation_protection", "I"),
    f("__alignment1", "I", "hidden"), f("region_size", "Q"), f("state", "I"),
    f("protection", "I"), f("type", "I"), f("__alignment2", "I", "hidden"),
])  # fmt: skip

THREAD_NAME = Layout("MDRawThreadName", [f("thread_id", "I"), f("rva_of_thread_name", "Q")])

THREAD_INFO_HEADER = UNLOADED_HEADER
THREAD_INFO = Layout("MDRawThreadInfo", [
    f("thread_id", "I"), f("dump_flags", "I"), f("dump_error", "I"), f("exit_status", "I"),
    f("create_time", "Q", "d"), f("exit_time", "Q", "d"), f("kernel_time", "Q", "d"),
    f("user_time", "Q", "d"), f("start_address", "Q"), f("affinity", "Q"),
])  # fmt: skip

# LinuxDsoDebug is written with the compiler's natural alignment, not packed to
# 4: a u32 of padding follows dso_count and each link-map entry's name rva.
DSO_DEBUG = Layout("MDRawDebug", [
    f("version", "I", "d"), f("map", "I"), f("dso_count", "I", "d"), f("__pad", "I", "hidden"),
    f("brk", "Q"), f("ldbase", "Q"), f("dynamic", "Q"),
])  # fmt: skip
LINK_MAP = Layout("MDRawLinkMap", [
    f("addr", "Q"), f("name", "I"), f("__pad", "I", "hidden"), f("ld", "Q"),
])  # fmt: skip

CRASHPAD_INFO = Layout("MinidumpCrashpadInfo", [
    f("version", "I", "d"), f("report_id", "16s", "bytes"), f("client_id", "16s", "bytes"),
    f("simple_annotations.data_size", "I", "d"), f("simple_annotations.rva", "I"),
    f("module_list.data_size", "I", "d"), f("module_list.rva", "I"),
])  # fmt: skip
CRASHPAD_MODULE_LINK = Layout("MinidumpModuleCrashpadInfoLink", [
    f("minidump_module_list_index", "I", "d"), f("location.data_size", "I", "d"),
    f("location.rva", "I"),
])  # fmt: skip
CRASHPAD_MODULE_INFO = Layout("MinidumpModuleCrashpadInfo", [
    f("version", "I", "d"), f("list_annotations.data_size", "I", "d"),
    f("list_annotations.rva", "I"), f("simple_annotations.data_size", "I", "d"),
    f("simple_annotations.rva", "I"),
])  # fmt: skip
CRASHPAD_MODULE_INFO_OBJECTS = Layout("MinidumpModuleCrashpadInfo", [
    *CRASHPAD_MODULE_INFO.fields, f("annotation_objects.data_size", "I", "d"),
    f("annotation_objects.rva", "I"),
])  # fmt: skip
STRING_PAIR = Layout("MinidumpSimpleStringDictionaryEntry", [f("key", "I"), f("value", "I")])
ANNOTATION = Layout("MinidumpAnnotation", [
    f("name", "I"), f("type", "H"), f("reserved", "H", "hidden"), f("value", "I"),
])  # fmt: skip

# CodeView records (the module's cv_record)
CV_RSDS = Layout("MDCVInfoPDB70", [
    f("cv_signature", "I"), f("signature.data1", "I"), f("signature.data2", "H"),
    f("signature.data3", "H"), f("signature.data4", "8s", "bytes"), f("age", "I", "d"),
])  # fmt: skip
CV_NB10 = Layout("MDCVInfoPDB20", [
    f("cv_signature", "I"), f("cv_offset", "I"), f("signature", "I"), f("age", "I", "d"),
])  # fmt: skip
CV_ELF = Layout("MDCVInfoELF", [f("cv_signature", "I")])

_EXPECTED_SIZES = {
    HEADER: 32, DIRECTORY: 12, MEMORY_DESCRIPTOR: 16, MEMORY64_HEADER: 16,
    MEMORY64_DESCRIPTOR: 16, THREAD: 48, MODULE: 108, EXCEPTION: 168, SYSTEM_INFO_X86: 56,
    SYSTEM_INFO_OTHER: 56, BREAKPAD_INFO: 12, MEMORY_INFO_HEADER: 16, MEMORY_INFO: 48,
    THREAD_NAME: 12, UNLOADED_MODULE: 24, THREAD_INFO: 64, DSO_DEBUG: 40, LINK_MAP: 24,
    CV_RSDS: 24, CV_NB10: 16,
}  # fmt: skip
for _layout, _size in _EXPECTED_SIZES.items():
    assert _layout.size == _size, (_layout.name, _layout.size, _size)
assert [m.size for m in MISC_INFO_VERSIONS] == [24, 44, 232, 832, 1364]


def field_names(layout: Layout) -> list[str]:
    return [fd.name for fd in layout.fields]


__all__ = ["Field", "Layout", "field_names"]

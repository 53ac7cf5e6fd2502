DESCRIPTOR = _descriptor_pool.Default().AddSerializedFile(b'\n\x0c\x61uth.proto\x12\x04\x61uth\"4\n\x05Token\x12\r\n\x05value\x18\x01 \x01(\t\x12\x0e\n\x06secret\x18\x02 \x01(\x0c\x62\x06proto3')
_TOKEN = DESCRIPTOR.message_types_by_name['Token']

"""The call controller: the AGI codec, the FastAGI server, the call flows and the classic
AGI entry point. Flows are written once against :class:`~hotline12345.ivr.channel.Channel`
and run over both transports."""

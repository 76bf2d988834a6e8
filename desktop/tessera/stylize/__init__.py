"""`tessera stylize`: style choice, the pixels around the network, and the exported file.

The network itself runs in the web page (`jobs/stylize_page.py`, `webapp/src/stylize/`); what
is exact and cheap on the CPU (padding, strength, colour preservation, EXIF) is done here.
"""

"""`python -m tessera.shells.tk_dialog files|folder TITLE`: show tkinter's dialog, print the
chosen paths as a JSON list. A child process, because Tk must own its process's main thread."""

import json
import sys
import tkinter
from tkinter import filedialog


def main() -> None:
    kind, title = sys.argv[1], sys.argv[2]
    root = tkinter.Tk()
    root.withdraw()
    root.attributes("-topmost", True)     # above the app window, not behind it
    if kind == "folder":
        chosen = filedialog.askdirectory(parent=root, title=title, mustexist=True)
        paths = [chosen] if chosen else []
    else:
        paths = list(filedialog.askopenfilenames(parent=root, title=title))
    root.destroy()
    print(json.dumps(paths))


if __name__ == "__main__":
    main()

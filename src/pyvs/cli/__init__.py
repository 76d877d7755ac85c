"""pyvsadm, the ipvsadm-compatible command line of pyvs.

parse.py parses argv into a Command; ipvsadm.py runs it against a data plane;
command.py holds the command/option legality table; edit.py the pure
configuration edits; render.py the listings; address.py and popt.py read
ipvsadm's arguments the way ipvsadm does.
"""

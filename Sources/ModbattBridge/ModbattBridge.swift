import Modbatt
